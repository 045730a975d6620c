// The published SmallThinker GGUF files the Download Model… command offers. Paths are relative
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

export const MODEL_CATALOG: CatalogModel[] = [
  {
    id: 'smallthinker-4b-q4_0',
    label: 'SmallThinker 4B-A0.6B Instruct (Q4_0, 2.41 GB)',
    detail: 'The small model: fast on any recent laptop CPU.',
    path: 'PowerInfer/SmallThinker-4BA0.6B-Instruct-GGUF/resolve/main/SmallThinker-4B-A0.6B-Instruct.Q4_0.gguf',
    fileName: 'SmallThinker-4B-A0.6B-Instruct.Q4_0.gguf',
  },
  {
    id: 'smallthinker-21b-q4_0',
    label: 'SmallThinker 21B-A3B Instruct (Q4_0, about 12 GB)',
    detail: 'The large model: better answers, needs about 12 GB of memory today.',
    path: 'PowerInfer/SmallThinker-21BA3B-Instruct-GGUF/resolve/main/SmallThinker-21B-A3B-Instruct.Q4_0.gguf',
    fileName: 'SmallThinker-21B-A3B-Instruct.Q4_0.gguf',
  },
];
