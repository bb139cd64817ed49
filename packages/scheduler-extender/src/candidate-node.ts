import type { NodeCapacities } from "./capacity.js";

/** A node the scheduler offers, reduced to what placement needs: its name and its parsed capacity annotations. */
export interface CandidateNode {
  readonly name: string;
  readonly capacities: NodeCapacities;
}
