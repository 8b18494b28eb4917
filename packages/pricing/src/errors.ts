export class OverridesError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid price overrides\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
  }
}
