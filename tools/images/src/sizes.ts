// Image sizes as the README and the build line print them: decimal megabytes, as registries report them.

/** e.g. 41.3 MB. */
export function formatBytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
