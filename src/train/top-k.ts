/** The classes of one image ranked by probability: shared by the engine and the browser page. */
export type TopK = { label: string; index: number; probability: number }[];

/** The `k` most probable of `classes`, given one row of probabilities. */
export function rankClasses(probabilities: ArrayLike<number>, classes: readonly string[], k: number): TopK {
  return Array.from(probabilities, (probability, index) => ({ label: classes[index]!, index, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, Math.min(k, classes.length));
}
