/**
 * Where the messages of one invocation meet before a step they can share (the worker's shard record,
 * src/core/processBatch.ts). Each message takes a seat when it starts, then either arrives with its item or
 * leaves (done some other way, or failed). The arrived items go to `run` together once every seat has arrived or
 * left, or once `waitMs` has passed since the first arrival (a sibling still busy then must not keep the others from
 * being recorded in time); an item arriving after that goes at once. `run` answers one promise per item, so each
 * item keeps its own outcome.
 */
export interface Seat<T, R> {
  arrive(item: T): Promise<R>;
  /** No-op once arrived: safe in a `finally`. */
  leave(): void;
}

export interface Meeting<T, R> {
  seat(): Seat<T, R>;
}

export function meeting<T, R>(run: (items: T[]) => Promise<R>[], waitMs?: () => number): Meeting<T, R> {
  let open = 0;
  let late = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiting: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const met = waiting;
    waiting = [];
    if (!met.length) return;
    let results: Promise<R>[];
    try {
      results = run(met.map((w) => w.item));
    } catch (err) {
      results = met.map(() => Promise.reject(err));
    }
    met.forEach((w, i) => {
      results[i].then(w.resolve, w.reject);
    });
  };
  const check = () => {
    if (open === 0 || late) flush();
  };

  return {
    seat() {
      open += 1;
      let taken = true;
      const free = () => {
        if (!taken) return false;
        taken = false;
        open -= 1;
        return true;
      };
      return {
        arrive(item) {
          if (!free()) return Promise.reject(new Error('a seat arrives once'));
          const met = new Promise<R>((resolve, reject) => waiting.push({ item, resolve, reject }));
          if (!timer && !late && open > 0 && waitMs) {
            timer = setTimeout(
              () => {
                late = true;
                flush();
              },
              Math.max(0, waitMs()),
            );
            timer.unref?.();
          }
          check();
          return met;
        },
        leave() {
          if (free()) check();
        },
      };
    },
  };
}
