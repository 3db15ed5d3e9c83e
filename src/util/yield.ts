/**
 * Lets the event loop run (signals, timers, worker messages) between training steps. A batch that is
 * already in memory (the built-in datasets) resolves through microtasks alone, which never give a
 * SIGINT handler its turn; one macrotask per step does.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
