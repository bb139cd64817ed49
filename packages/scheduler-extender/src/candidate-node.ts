/** A node the scheduler offers, reduced to what placement needs: its name and annotations. */
export interface CandidateNode {
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}
