// Expert popularity and ReLU sparsity from `smallthinker bench --json` (its `routing` field):
// how many of each layer's experts serve under 14 % of tokens, how many 40–60 % (the paper's
// figures), how popularity falls off from a layer's busiest expert to its rarest, and the
// share of zero relu(gate) neurons in the experts used.
//   node dist/cli.js bench --model M --json | npx tsx test/bench/routing-stats.ts
import fs from 'node:fs';

export interface RoutingReport {
  /** Mean over layers of the share of experts used by fewer than 14 % of tokens. */
  rareShare: number;
  /** Mean over layers of the share of experts used by 40–60 % of tokens. */
  hotShare: number;
  /** The largest share of tokens any one expert of any layer served. */
  maxFrequency: number;
  /** Mean over layers of the share of tokens of each layer's busiest expert, second busiest, …: the shape of the fall-off. */
  ranked: number[];
  /** How many different experts are the busiest of some layer (1: the same expert everywhere). */
  distinctBusiest: number;
  neuronSparsity: number;
}

export function routingReport(routing: { tokens: number; n_layer: number; n_expert: number; expert_uses: number[]; neuron_sparsity: number }): RoutingReport {
  const { tokens: T, n_layer: L, n_expert: N, expert_uses: uses } = routing;
  let rare = 0, hot = 0, max = 0;
  const ranked = new Array<number>(N).fill(0);
  const busiest = new Set<number>();
  for (let l = 0; l < L; l++) {
    const layer: number[] = [];
    for (let e = 0; e < N; e++) {
      const f = uses[l * N + e] / T;
      if (f < 0.14) rare++;
      if (f >= 0.4 && f <= 0.6) hot++;
      max = Math.max(max, f);
      layer.push(f);
    }
    busiest.add(layer.indexOf(Math.max(...layer)));
    layer.sort((a, b) => b - a).forEach((f, i) => { ranked[i] += f / L; });
  }
  return {
    rareShare: rare / (L * N), hotShare: hot / (L * N), maxFrequency: max, ranked, distinctBusiest: busiest.size,
    neuronSparsity: routing.neuron_sparsity,
  };
}

if (require.main === module) {
  const lines = fs.readFileSync(0, 'utf8').trim().split('\n');
  const r = routingReport(JSON.parse(lines[lines.length - 1]).routing);
  process.stdout.write(`experts under 14 % of tokens: ${(100 * r.rareShare).toFixed(0)} %, at 40–60 %: ${(100 * r.hotShare).toFixed(0)} %, ` +
    `busiest expert: ${(100 * r.maxFrequency).toFixed(0)} % of tokens, neurons with relu(gate) = 0: ${(100 * r.neuronSparsity).toFixed(1)} %\n` +
    `a layer's experts by rank (mean over layers): ${r.ranked.slice(0, 8).map((f) => `${(100 * f).toFixed(0)} %`).join(', ')} … ` +
    `${(100 * r.ranked[r.ranked.length - 1]).toFixed(1)} %; ${r.distinctBusiest} different experts are a layer's busiest\n`);
}
