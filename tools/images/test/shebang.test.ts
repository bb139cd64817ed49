import { describe, expect, it } from "vitest";

import { checkShebang, splitShebang } from "../src/shebang.js";

describe("bin shebangs", () => {
  it("splits the shebang line from the script", () => {
    expect(splitShebang("#!/usr/bin/env node\nconsole.log(1);\n")).toEqual({ shebang: "#!/usr/bin/env node", body: "console.log(1);\n" });
    expect(splitShebang("console.log(1);\n")).toEqual({ shebang: "", body: "console.log(1);\n" });
  });

  it("accepts node through env, with node flags and environment assignments", () => {
    for (const line of [
      "#!/usr/bin/env node",
      "#!/usr/bin/env -S node --max-semi-space-size=1",
      "#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node --heap-growing-percent=300 --expose-gc",
    ]) {
      expect(checkShebang(line, "bin.js")).toBe(line);
    }
  });

  it("refuses a bin without a shebang or one that does not start node", () => {
    expect(() => checkShebang("", "bin.js")).toThrow(/does not start node/);
    expect(() => checkShebang("#!/bin/sh", "bin.js")).toThrow(/does not start node/);
    expect(() => checkShebang("#!/usr/local/bin/node", "bin.js")).toThrow(/does not start node/);
  });
});
