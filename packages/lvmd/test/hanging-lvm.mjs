// An lvm command for lvmd's lvm-command-prefix that runs the real lvm, except that `lvm lvcreate` hangs (writing its
// pid to $HANGING_LVM_PID_FILE) while the file $HANGING_LVM_HANG exists: a real slow LVM command for cancellation tests.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { setInterval } from "node:timers";

const [subcommand, ...rest] = process.argv.slice(2);
const hang = process.env.HANGING_LVM_HANG;
const pidFile = process.env.HANGING_LVM_PID_FILE;
if (subcommand === "lvcreate" && hang !== undefined && pidFile !== undefined && existsSync(hang)) {
  writeFileSync(pidFile, String(process.pid));
  setInterval(() => undefined, 60_000);
} else {
  const result = spawnSync("lvm", [subcommand ?? "", ...rest], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
