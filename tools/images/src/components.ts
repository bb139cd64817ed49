// The four process packages that ship as images: which rootfs flavour each one sits on, who it runs as and what the
// tests check inside it. A component's image name is its package directory (the chart's image.components keys).

/** A cached Debian root filesystem, one per file in tools/images/flavours. */
export type Flavour = "runtime" | "lvmd" | "node";

export interface Component {
  /** The package directory under packages/ and the image name: <repository>/<name>:<version>. */
  readonly name: "lvmd" | "csi-plugin" | "scheduler-extender" | "admission-webhook";
  readonly flavour: Flavour;
  /** The image's User: lvmd and topolvm-node run LVM and mount commands, so they need root. */
  readonly user: "0:0" | "65532:65532";
  /** The bin the image runs when no command is given. */
  readonly entrypoint: string;
  /** Files of the package, besides package.json and the bundles, that the bins read at run time. */
  readonly assets: readonly string[];
  /** Commands of the tools the component calls, run inside the image by the tests (each must exit 0). */
  readonly toolChecks: readonly (readonly string[])[];
  /** The size target of the compressed image (the bytes a registry stores and a node pulls). */
  readonly maxCompressedBytes: number;
}

const megabytes = 1_000_000;

export const components: readonly Component[] = [
  {
    name: "lvmd",
    flavour: "lvmd",
    user: "0:0",
    entrypoint: "lvmd",
    assets: [],
    toolChecks: [["lvm", "version"], ["thin_check", "-V"], ["nsenter", "--version"]],
    maxCompressedBytes: 200 * megabytes,
  },
  {
    name: "csi-plugin",
    flavour: "node",
    user: "0:0",
    entrypoint: "topolvm-node",
    assets: ["crd"],
    toolChecks: [
      ["mkfs.ext4", "-V"],
      ["mkfs.xfs", "-V"],
      ["mkfs.btrfs", "--version"],
      ["lvs", "--version"],
      ["xfs_growfs", "-V"],
      ["blkid", "--version"],
      ["mount", "--version"],
      ["nsenter", "--version"],
    ],
    maxCompressedBytes: 200 * megabytes,
  },
  {
    name: "scheduler-extender",
    flavour: "runtime",
    user: "65532:65532",
    entrypoint: "topolvm-scheduler",
    assets: [],
    toolChecks: [],
    maxCompressedBytes: 80 * megabytes,
  },
  {
    name: "admission-webhook",
    flavour: "runtime",
    user: "65532:65532",
    entrypoint: "topolvm-webhook",
    assets: [],
    toolChecks: [],
    maxCompressedBytes: 80 * megabytes,
  },
];

/** The component of an image name, or an error listing the known ones. */
export function componentNamed(name: string): Component {
  const component = components.find((candidate) => candidate.name === name);
  if (component === undefined) {
    throw new Error(`unknown component "${name}": expected one of ${components.map((c) => c.name).join(", ")}`);
  }
  return component;
}
