/** Nine lists of nine aliases, eight deep: 9^8 strings if expanded (the "billion laughs" shape). For config tests. */
export const yamlAliasBomb = [
  'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
  ...["b", "c", "d", "e", "f", "g", "h"].map((name, i) => {
    const prev = "abcdefg"[i] ?? "a";
    return `${name}: &${name} [${Array.from({ length: 9 }, () => `*${prev}`).join(", ")}]`;
  }),
].join("\n");
