import { parseArgs } from 'node:util';
import { loadOverridesFile, Pricer, UsageError, usageFromProvider } from '@tokenmeter/pricing';

export const PRICE_USAGE = `usage: tokenmeter price --provider P --model M --usage JSON [--operation OP] [--at ISO8601] [--overrides FILE] [--json]

  --provider   gen_ai.provider.name (openai, anthropic, aws.bedrock, gcp.gemini, azure.ai.openai, …)
  --model      the model as the SDK reports it
  --usage      the usage object exactly as the provider's API returns it (OpenAI usage,
               Anthropic usage, Gemini usageMetadata, Bedrock Converse usage, …)
  --at         price at this time (default: now)
  --overrides  a YAML or JSON price overrides file
  --json       print one JSON object

exit status: 0 priced, 2 not priced (with the reason), 1 bad arguments`;

export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** `tokenmeter price`: returns the exit status. */
export function priceCommand(argv: string[], io: CommandIO): number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        provider: { type: 'string' },
        model: { type: 'string' },
        usage: { type: 'string' },
        operation: { type: 'string' },
        at: { type: 'string' },
        overrides: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    io.err(`tokenmeter price: ${(error as Error).message}\n${PRICE_USAGE}`);
    return 1;
  }
  if (values.help) {
    io.out(PRICE_USAGE);
    return 0;
  }
  const bad = (message: string) => {
    io.err(`tokenmeter price: ${message}\n${PRICE_USAGE}`);
    return 1;
  };
  const provider = values.provider as string | undefined;
  const model = values.model as string | undefined;
  if (!provider) return bad('--provider is required');
  if (!model) return bad('--model is required');
  if (values.usage === undefined) return bad('--usage is required');
  let rawUsage: unknown;
  try {
    rawUsage = JSON.parse(values.usage as string);
  } catch (error) {
    return bad(`--usage is not valid JSON: ${(error as Error).message}`);
  }
  let at: number | undefined;
  if (values.at !== undefined) {
    at = Date.parse(values.at as string);
    if (Number.isNaN(at)) return bad(`--at is not an ISO 8601 time: ${values.at}`);
  }
  let pricer: Pricer;
  try {
    pricer = new Pricer({
      overrides: values.overrides ? loadOverridesFile(values.overrides as string) : undefined,
    });
  } catch (error) {
    return bad((error as Error).message);
  }
  let usage: ReturnType<typeof usageFromProvider>;
  try {
    usage = usageFromProvider(provider, rawUsage);
  } catch (error) {
    if (error instanceof UsageError) return bad(`--usage: ${error.message}`);
    throw error;
  }
  const reportedCost = (rawUsage as { cost?: unknown }).cost;
  const result = pricer.price({
    provider,
    model,
    usage,
    providerCostUsd: typeof reportedCost === 'number' ? reportedCost : undefined,
    at,
  });
  if (!result.priced) {
    io.out(
      values.json ? JSON.stringify({ priced: false, reason: result.reason }) : `not priced: ${result.reason}`,
    );
    return 2;
  }
  if (values.json) {
    io.out(
      JSON.stringify({
        priced: true,
        amount_usd: result.amountUsd,
        currency: result.currency,
        source: result.source,
        breakdown: result.breakdown,
        pricing_model: result.pricingModel,
      }),
    );
  } else {
    const lines = [`$${result.amountUsd.toFixed(8)} USD (${result.source}, ${result.pricingModel})`];
    for (const [type, amount] of Object.entries(result.breakdown))
      if (amount) lines.push(`  ${type.padEnd(12)} $${amount.toFixed(8)}`);
    io.out(lines.join('\n'));
  }
  return 0;
}
