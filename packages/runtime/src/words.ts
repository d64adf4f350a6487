/** Lists of words in messages, as a sentence says them. */

/** "a", "a or b", "a, b or c": the choices a user may give, in one phrase. */
export function orList(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}
