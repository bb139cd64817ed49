import type { ExecResult, Executor } from "@topolvm/lvm-exec";

// An in-memory stand-in for the lvm command, for unit tests of lvmd's thin and snapshot paths that real LVM can
// only run where device-mapper exists. It records every argv and answers the subcommands lvm-exec and lvmd run
// with reports in LVM's JSON format.

export interface FakeLv {
  size: number;
  /** First lv_attr character: "-" thick, "t" thin pool, "V" thin volume. */
  kind: "-" | "t" | "V";
  pool: string;
  origin: string;
  tags: string[];
  dataPercent: string;
  metadataPercent: string;
}

export interface FakeVg {
  size: number;
  extent: number;
  lvs: Map<string, FakeLv>;
}

export interface FakeLvm {
  readonly executor: Executor;
  readonly vgs: Map<string, FakeVg>;
  /** Every argv run, after the "lvm" program name. */
  readonly commands: string[][];
  /** Makes the next command whose argv starts with `prefix` exit 5 with `stderr`. */
  failNext(prefix: readonly string[], stderr: string): void;
  /** Holds every command starting with `subcommand` until the returned release function is called. */
  hold(subcommand: string): () => void;
}

function parseBytes(value: string): number {
  if (!value.endsWith("b")) throw new Error(`fake lvm wants byte sizes, got ${value}`);
  return Number(value.slice(0, -1));
}

function vgFree(vg: FakeVg): number {
  let used = 0;
  for (const lv of vg.lvs.values()) if (lv.kind !== "V") used += lv.size;
  return vg.size - used;
}

function lvRow(vgName: string, name: string, lv: FakeLv): Record<string, string> {
  return {
    lv_name: name,
    vg_name: vgName,
    lv_uuid: `uuid-${name}`,
    lv_path: lv.kind === "t" ? "" : `/dev/${vgName}/${name}`,
    lv_size: String(lv.size),
    lv_tags: lv.tags.join(","),
    lv_attr: `${lv.kind}wi-a-${lv.kind === "-" ? "-" : "t"}z--`,
    lv_kernel_major: "253",
    lv_kernel_minor: "7",
    pool_lv: lv.pool,
    origin: lv.origin,
    data_percent: lv.dataPercent,
    metadata_percent: lv.metadataPercent,
  };
}

function vgRow(name: string, vg: FakeVg): Record<string, string> {
  return {
    vg_name: name,
    vg_uuid: `uuid-${name}`,
    vg_size: String(vg.size),
    vg_free: String(vgFree(vg)),
    vg_extent_size: String(vg.extent),
    pv_count: "1",
    lv_count: String(vg.lvs.size),
    vg_tags: "",
  };
}

const ok = (stdout = ""): ExecResult => ({ stdout, stderr: "", exitCode: 0 });
const failed = (stderr: string, exitCode = 5): ExecResult => ({ stdout: "", stderr, exitCode });

export function createFakeLvm(vgs: Record<string, { size: number; extent?: number; lvs?: Record<string, Partial<FakeLv> & { size: number }> }>): FakeLvm {
  const state = new Map<string, FakeVg>();
  for (const [name, spec] of Object.entries(vgs)) {
    const lvs = new Map<string, FakeLv>();
    for (const [lvName, lv] of Object.entries(spec.lvs ?? {})) {
      lvs.set(lvName, { kind: "-", pool: "", origin: "", tags: [], dataPercent: "", metadataPercent: "", ...lv });
    }
    state.set(name, { size: spec.size, extent: spec.extent ?? 4 * 2 ** 20, lvs });
  }
  const commands: string[][] = [];
  const failures: { prefix: readonly string[]; stderr: string }[] = [];
  const holds = new Map<string, Promise<void>>();

  function roundUp(vg: FakeVg, size: number): number {
    return Math.ceil(size / vg.extent) * vg.extent;
  }

  function splitPath(path: string): [FakeVg, string, string] {
    const [vgName = "", name = ""] = path.split("/");
    const vg = state.get(vgName);
    if (vg === undefined) throw new Error(`Volume group "${vgName}" not found`);
    return [vg, vgName, name];
  }

  function option(args: readonly string[], name: string): string | undefined {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  }

  function addTags(args: readonly string[]): string[] {
    return args.flatMap((arg, i) => (arg === "--addtag" ? [args[i + 1] ?? ""] : []));
  }

  function run(args: string[]): ExecResult {
    const [sub] = args;
    switch (sub) {
      case "fullreport": {
        const names = args.filter((a, i) => i > 0 && state.has(a) && args[i - 1] !== "-o");
        const entries = [...state].filter(([name]) => names.length === 0 || names.includes(name));
        const report = entries.map(([name, vg]) => ({
          vg: [vgRow(name, vg)],
          lv: [...vg.lvs].map(([lvName, lv]) => lvRow(name, lvName, lv)),
          pv: [],
          pvseg: [],
          seg: [],
        }));
        return ok(JSON.stringify({ report }));
      }
      case "lvs": {
        const target = args.at(-1) ?? "";
        const [vg, vgName, name] = splitPath(target);
        const lv = vg.lvs.get(name);
        if (lv === undefined) return failed(`  Failed to find logical volume "${target}"`);
        return ok(JSON.stringify({ report: [{ lv: [lvRow(vgName, name, lv)] }] }));
      }
      case "lvcreate": {
        const name = option(args, "-n") ?? "";
        const tags = addTags(args);
        if (args.includes("-s")) {
          const [vg, , source] = splitPath(args.at(-1) ?? "");
          if (vg.lvs.has(name)) return failed(`  Logical Volume "${name}" already exists in volume group`);
          const origin = vg.lvs.get(source);
          if (origin === undefined) return failed(`  Failed to find logical volume "${source}"`);
          vg.lvs.set(name, { ...origin, origin: source, tags });
          return ok();
        }
        const thinTarget = option(args, "-T");
        if (thinTarget !== undefined) {
          const [vg, , pool] = splitPath(thinTarget);
          if (vg.lvs.has(name)) return failed(`  Logical Volume "${name}" already exists in volume group`);
          vg.lvs.set(name, { kind: "V", size: roundUp(vg, parseBytes(option(args, "-V") ?? "")), pool, origin: "", tags, dataPercent: "0.00", metadataPercent: "" });
          return ok();
        }
        const vg = state.get(args.at(-1) ?? "");
        if (vg === undefined) return failed(`  Volume group "${args.at(-1) ?? ""}" not found`);
        // lvm2 refuses a taken name before it looks at the free space.
        if (vg.lvs.has(name)) return failed(`  Logical Volume "${name}" already exists in volume group`);
        const size = roundUp(vg, parseBytes(option(args, "-L") ?? ""));
        if (size > vgFree(vg)) return failed(`  Volume group "x" has insufficient free space (0 extents): 1 required.`);
        vg.lvs.set(name, { kind: "-", size, pool: "", origin: "", tags, dataPercent: "", metadataPercent: "" });
        return ok();
      }
      case "lvextend": {
        const [vg, , name] = splitPath(args.at(-1) ?? "");
        const lv = vg.lvs.get(name);
        if (lv === undefined) return failed(`  Failed to find logical volume "${name}"`);
        lv.size = Math.max(lv.size, roundUp(vg, parseBytes(option(args, "-L") ?? "")));
        return ok();
      }
      case "lvremove": {
        const [vg, , name] = splitPath(args.at(-1) ?? "");
        if (!vg.lvs.delete(name)) return failed(`  Failed to find logical volume "${name}"`);
        return ok();
      }
      case "lvchange":
        return ok();
      default:
        return failed(`fake lvm: unknown command ${args.join(" ")}`, 3);
    }
  }

  const executor: Executor = async (argv) => {
    const args = argv.slice(1);
    commands.push(args);
    await holds.get(args[0] ?? "");
    const failure = failures.findIndex((f) => f.prefix.every((p, i) => args[i] === p));
    if (failure !== -1) {
      const [taken] = failures.splice(failure, 1);
      return failed(taken?.stderr ?? "");
    }
    try {
      return run(args);
    } catch (err) {
      return failed(`  ${(err as Error).message}`);
    }
  };

  return {
    executor,
    vgs: state,
    commands,
    failNext(prefix, stderr) {
      failures.push({ prefix, stderr });
    },
    hold(subcommand) {
      let release: () => void = () => undefined;
      holds.set(
        subcommand,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      return () => {
        holds.delete(subcommand);
        release();
      };
    },
  };
}
