export async function waitFor<T>(
  what: () => T | undefined | null | false,
  ms = 5000,
  label = 'condition',
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
