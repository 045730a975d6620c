// Model shapes: tiny ones for exactness tests and the two published SmallThinker shapes.
export interface Shape {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nExpert: number;
  nExpertUsed: number;
  nFfExp: number;
  contextLength: number;
  ropeFreqBase: number;
  rmsEps: number;
  gating: 'sigmoid' | 'softmax';
  slidingWindow: boolean;
}

export type PresetName = 'tiny' | 'tiny-swa' | 'tiny-256' | '4b' | '21b';

export const PRESETS: Record<PresetName, Shape> = {
  // A few layers, all RoPE and full attention, sigmoid gating.
  tiny: { nLayer: 4, nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 32, nExpert: 8, nExpertUsed: 2, nFfExp: 64,
    contextLength: 8192, ropeFreqBase: 1.5e6, rmsEps: 1e-6, gating: 'sigmoid', slidingWindow: false },
  // 8 layers: layers 0 and 4 global NoPE, the rest RoPE with the 4096 window; Q width 192 ≠ E
  // like the 21B; softmax gating. 5000-token prompts cross the window cheaply.
  'tiny-swa': { nLayer: 8, nEmbd: 128, nHead: 6, nHeadKv: 2, headDim: 32, nExpert: 8, nExpertUsed: 2, nFfExp: 64,
    contextLength: 8192, ropeFreqBase: 1.5e6, rmsEps: 1e-6, gating: 'softmax', slidingWindow: true },
  // As 'tiny' with every row length a multiple of 256 (E = Q width = expert width = 256), so the
  // K-quants and IQ4_XS apply to every matrix without falling back to a 32-block type.
  'tiny-256': { nLayer: 4, nEmbd: 256, nHead: 8, nHeadKv: 2, headDim: 32, nExpert: 8, nExpertUsed: 2, nFfExp: 256,
    contextLength: 8192, ropeFreqBase: 1.5e6, rmsEps: 1e-6, gating: 'sigmoid', slidingWindow: false },
  '4b': { nLayer: 32, nEmbd: 1536, nHead: 12, nHeadKv: 2, headDim: 128, nExpert: 32, nExpertUsed: 4, nFfExp: 768,
    contextLength: 32768, ropeFreqBase: 1.5e6, rmsEps: 1e-6, gating: 'sigmoid', slidingWindow: false },
  '21b': { nLayer: 52, nEmbd: 2560, nHead: 28, nHeadKv: 4, headDim: 128, nExpert: 64, nExpertUsed: 6, nFfExp: 768,
    contextLength: 16384, ropeFreqBase: 1.5e6, rmsEps: 1e-6, gating: 'sigmoid', slidingWindow: true },
};

/** Big presets get random quantised blocks instead of quantised generated floats. */
export const isBig = (p: PresetName) => p === '4b' || p === '21b';
