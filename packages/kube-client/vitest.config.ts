import { vitestConfig } from "../../tools/vitest-shared.js";

export default vitestConfig(import.meta.dirname, "unit");
