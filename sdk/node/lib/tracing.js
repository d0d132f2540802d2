'use strict';
/**
 * W3C trace context across a canvas, with OpenTelemetry when `@opentelemetry/api` is installed
 * (nothing happens otherwise), as the Python SDK does (`motet.tracing`):
 * - `currentTraceparent()`: the active span's `traceparent`, sent with a submission (the
 *   scheduler writes it into every task of the canvas);
 * - the Worker runs each task inside a span `run <task>` whose parent is the task's
 *   `request.options.traceparent`, linked to `request.links` (a chord body: its header members'
 *   runs), and reports the span's traceparent with the value.
 * What is exported is the application's choice: register a tracer provider (and a context
 * manager, e.g. `@opentelemetry/sdk-node`) as for any OpenTelemetry program.
 */

let api = null;
try {
  // Optional: tracing exists only where OpenTelemetry is installed.
  api = require('@opentelemetry/api'); // eslint-disable-line global-require
} catch {
  api = null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The active span's `traceparent`, or "" (no OpenTelemetry, or no valid span). */
function currentTraceparent() {
  if (!api) return '';
  const span = api.trace.getSpan(api.context.active());
  const sc = span && span.spanContext();
  if (!sc || !api.trace.isSpanContextValid(sc)) return '';
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`;
}

/** A remote span context from a `traceparent`, or null when it is empty or malformed. */
function spanContextOf(traceparent) {
  const m = TRACEPARENT.exec(traceparent || '');
  if (!api || !m) return null;
  const sc = { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16) & 1, isRemote: true };
  return api.trace.isSpanContextValid(sc) ? sc : null;
}

/**
 * Runs `fn()` inside the span of one task run; resolves to `{value, traceparent}`.
 * @param {string} task
 * @param {string} traceparent - The task's parent context ("" for none).
 * @param {Object<string, string|number>} attributes
 * @param {string[]} links - Trace contexts the span links to.
 * @param {() => Promise<*>} fn
 */
async function inTaskSpan(task, traceparent, attributes, links, fn) {
  if (!api) return { value: await fn(), traceparent: '' };
  const parentContext = spanContextOf(traceparent);
  const base = parentContext ? api.trace.setSpanContext(api.context.active(), parentContext) : api.context.active();
  const linked = (links || []).map(spanContextOf).filter(Boolean).map((context) => ({ context, attributes: { 'motet.link': 'chord header member' } }));
  const tracer = api.trace.getTracer('motet');
  return tracer.startActiveSpan(`run ${task}`, { kind: api.SpanKind.CONSUMER, attributes, links: linked }, base, async (span) => {
    try {
      const value = await fn();
      // Only a span this process records can be linked to (without a provider it is the parent's).
      return { value, traceparent: span.isRecording() ? currentTraceparent() : '' };
    } catch (err) {
      span.recordException(err instanceof Error ? err : new Error(String(err)));
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: err && err.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

module.exports = { currentTraceparent, inTaskSpan, spanContextOf };
