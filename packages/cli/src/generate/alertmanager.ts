import type { TokenmeterConfig } from '@tokenmeter/node/config';
import { ALERTS } from './rules.js';

type Receivers = TokenmeterConfig['alerting']['receivers'];
type Receiver = Receivers[string];

/** Receiver that gets nothing: Alertmanager needs one when the config names none. */
const SILENT_RECEIVER = 'tokenmeter-silent';

/**
 * Which configured receiver pages and which chats. By name first (`pager`, `chat`, as in the
 * contract's example); otherwise the first PagerDuty or webhook receiver pages and the first Slack
 * receiver chats; a single receiver gets everything.
 */
export function chooseReceivers(receivers: Receivers): { pager: string; chat: string } {
  const names = Object.keys(receivers);
  if (names.length === 0) return { pager: SILENT_RECEIVER, chat: SILENT_RECEIVER };
  const first = (test: (receiver: Receiver) => unknown) =>
    names.find((name) => test(receivers[name] as Receiver));
  const pager =
    (receivers.pager ? 'pager' : undefined) ??
    first((receiver) => receiver.pagerduty_routing_key || receiver.webhook_url) ??
    (names[0] as string);
  const chat =
    (receivers.chat ? 'chat' : undefined) ?? first((receiver) => receiver.slack_webhook_url) ?? pager;
  return { pager, chat };
}

export function buildAlertmanagerConfig(config: TokenmeterConfig): Record<string, unknown> {
  const { alerting } = config;
  const { pager, chat } = chooseReceivers(alerting.receivers);
  const routes: Array<Record<string, unknown>> = [
    // Critical pages, and (continue) also shows up in chat for the record.
    { receiver: pager, matchers: ['severity="critical"'], continue: pager !== chat },
  ];
  if (pager !== chat) routes.push({ receiver: chat });

  const receivers = Object.entries(alerting.receivers).map(([name, receiver]) =>
    toAlertmanagerReceiver(name, receiver),
  );
  if (receivers.length === 0) receivers.push({ name: SILENT_RECEIVER });

  return {
    route: {
      receiver: chat,
      group_by: ['alertname', 'budget'],
      group_wait: alerting.group_wait,
      group_interval: alerting.group_interval,
      repeat_interval: alerting.repeat_interval,
      routes,
    },
    inhibit_rules: inhibitRules(config),
    receivers,
  };
}

/** A budget at 100% silences its threshold and projection alerts; a higher threshold silences lower ones. */
function inhibitRules(config: TokenmeterConfig): Array<Record<string, unknown>> {
  const rules: Array<Record<string, unknown>> = [
    {
      source_matchers: [`alertname="${ALERTS.exhausted}"`],
      target_matchers: [`alertname=~"${ALERTS.threshold}|${ALERTS.projected}"`],
      equal: ['budget'],
    },
  ];
  const thresholds = new Set<number>(config.alerting.thresholds);
  for (const budget of config.budgets)
    for (const threshold of budget.thresholds ?? []) thresholds.add(threshold);
  const sorted = [...thresholds].sort((a, b) => a - b);
  sorted.forEach((threshold, index) => {
    if (index === 0) return;
    // Alertmanager anchors the regex; the dots match themselves among these values.
    const lower = sorted.slice(0, index).map(String);
    rules.push({
      source_matchers: [`alertname="${ALERTS.threshold}"`, `threshold="${threshold}"`],
      target_matchers: [`alertname="${ALERTS.threshold}"`, `threshold=~"${lower.join('|')}"`],
      equal: ['budget'],
    });
  });
  return rules;
}

function toAlertmanagerReceiver(name: string, receiver: Receiver): Record<string, unknown> {
  const result: Record<string, unknown> = { name };
  if (receiver.webhook_url) result.webhook_configs = [{ url: receiver.webhook_url, send_resolved: true }];
  if (receiver.pagerduty_routing_key) {
    result.pagerduty_configs = [
      {
        routing_key: receiver.pagerduty_routing_key,
        send_resolved: true,
        description: '{{ .CommonAnnotations.summary }}',
        links: [{ href: '{{ (index .Alerts 0).Annotations.runbook_url }}', text: 'Runbook' }],
      },
    ];
  }
  if (receiver.slack_webhook_url) {
    result.slack_configs = [
      {
        api_url: receiver.slack_webhook_url,
        ...(receiver.channel ? { channel: receiver.channel } : {}),
        send_resolved: true,
        title:
          '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}{{ if .CommonLabels.budget }} {{ .CommonLabels.budget }}{{ end }}',
        text: '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }} · Dashboard: {{ .Annotations.dashboard_url }}\n{{ end }}',
      },
    ];
  }
  return result;
}
