// Image references: what the container target tags and what the chart's defaults name (charts/topolvm/values.yaml:
// image.repository + "/" + the component, tag = the chart's appVersion = the package version).

/** The repository prefix of TopoLVM's images unless --repository says otherwise (the chart's image.repository). */
export const defaultRepository = "topolvm";

/** <repository>/<component>:<version>, e.g. topolvm/lvmd:0.1.0. */
export function imageReference(repository: string, component: string, version: string): string {
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(repository)) {
    throw new Error(`invalid image repository "${repository}": lowercase path components separated by "/"`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(version)) {
    throw new Error(`invalid image tag "${version}"`);
  }
  return `${repository}/${component}:${version}`;
}

/**
 * The fully qualified form container runtimes resolve a reference to (docker.io/ for a name without a registry
 * host, docker.io/library/ for a single path component), as containerd names an imported image.
 */
export function qualifiedReference(reference: string): string {
  const slash = reference.indexOf("/");
  if (slash === -1) {
    return `docker.io/library/${reference}`;
  }
  const first = reference.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? reference : `docker.io/${reference}`;
}
