// The published SmallThinker GGUF files the Download Model… command offers, the default (the
// 4B Q4_0 file) first, then the 4B's quantisation-aware-trained files in every size, so a user
// can pick the one that fits their memory, then the 21B. Paths are relative
// to the `smallthinker.download.baseUrl` setting (Hugging Face by default), so tests and
// mirrors can serve them from elsewhere. Sizes and SHA-256 sums are not known to this project
// (the files could not be fetched where it was built); where they are absent the download
// checks the file on disk against the SHA-256 and size the Hugging Face Hub names for it
// (X-Linked-Etag and X-Linked-Size on its redirect), or, from a mirror that names none,
// against the size the server announced; and that the file is GGUF.
export interface CatalogModel {
  id: string;
  label: string;
  detail: string;
  /** Path under the base URL. */
  path: string;
  fileName: string;
  bytes?: number;
  sha256?: string;
}

// The files of PowerInfer/SmallThinker-4BA0.6B-Instruct-INT4-QAT with the sizes its file list
// shows (the Q8_0 size is the repository's total less the others), smallest first.
const QAT_FILES: Array<[type: string, size: string, note: string]> = [
  ['Q3_K_S', '1.94 GB', 'the smallest file, for the tightest memory.'],
  ['Q3_K_M', '2.12 GB', 'small, a little more precise than Q3_K_S.'],
  ['Q4_0', '2.41 GB', 'the type the engine is fastest with.'],
  ['Q4_K_S', '2.49 GB', 'K-quant mix, close to Q4_0 in size.'],
  ['Q4_K_M', '2.63 GB', 'K-quant mix with more bits where they matter.'],
  ['Q8_0', 'about 4.5 GB', 'nearly lossless, twice the memory.'],
];

export const MODEL_CATALOG: CatalogModel[] = [
  {
    id: 'smallthinker-4b-q4_0',
    label: 'SmallThinker 4B-A0.6B Instruct (Q4_0, 2.41 GB)',
    detail: 'The small model: fast on any recent laptop CPU.',
    path: 'PowerInfer/SmallThinker-4BA0.6B-Instruct-GGUF/resolve/main/SmallThinker-4B-A0.6B-Instruct.Q4_0.gguf',
    fileName: 'SmallThinker-4B-A0.6B-Instruct.Q4_0.gguf',
  },
  ...QAT_FILES.map(([type, size, note]): CatalogModel => ({
    id: `smallthinker-4b-qat-${type.toLowerCase()}`,
    label: `SmallThinker 4B-A0.6B Instruct, QAT (${type}, ${size})`,
    detail: `Quantisation-aware trained for 4-bit weights: ${note}`,
    path: `PowerInfer/SmallThinker-4BA0.6B-Instruct-INT4-QAT/resolve/main/SmallThinker-4B-A0.6B-Instruct-qat.${type}.gguf`,
    fileName: `SmallThinker-4B-A0.6B-Instruct-qat.${type}.gguf`,
  })),
  {
    id: 'smallthinker-21b-q4_0',
    label: 'SmallThinker 21B-A3B Instruct (Q4_0, about 12 GB)',
    detail: 'The large model: better answers, needs about 12 GB of memory today.',
    path: 'PowerInfer/SmallThinker-21BA3B-Instruct-GGUF/resolve/main/SmallThinker-21B-A3B-Instruct.Q4_0.gguf',
    fileName: 'SmallThinker-21B-A3B-Instruct.Q4_0.gguf',
  },
];
