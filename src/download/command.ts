// The Download Model… command: a pick from the catalog, the download with progress and Cancel
// in a notification, and the downloaded file made the model (which loads it).
import * as vscode from 'vscode';
import { setting } from '../settings';
import { MODEL_CATALOG } from './catalog';
import { DownloadBusyError, DownloadCancelledError, downloadFile, isDownloading } from './downloader';

export function registerDownloadCommand(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('smallthinker.downloadModel', async () => {
    const pick = await vscode.window.showQuickPick(MODEL_CATALOG.map((m) => ({ label: m.label, detail: m.detail, model: m })),
      { title: 'Download a SmallThinker model' });
    if (!pick) return;
    const base = setting('download.baseUrl').replace(/\/+$/, '');
    const folder = vscode.Uri.joinPath(context.globalStorageUri, 'models');
    await vscode.workspace.fs.createDirectory(folder);
    const dest = vscode.Uri.joinPath(folder, pick.model.fileName).fsPath;
    if (isDownloading(dest)) return void vscode.window.showInformationMessage(`${pick.model.fileName} is already downloading.`);
    const mb = (n: number) => (n / 1e6).toFixed(0);
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Downloading ${pick.model.fileName}`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          let shown = 0;
          await downloadFile({
            url: `${base}/${pick.model.path}`, dest, expectedBytes: pick.model.bytes, sha256: pick.model.sha256, signal: abort.signal,
            onProgress: (p) => {
              if (p.phase === 'verifying') {
                progress.report({ message: `checking the file: ${Math.floor((100 * p.verified) / Math.max(1, p.total))} %` });
                return;
              }
              const pct = p.total ? (100 * p.received) / p.total : 0;
              progress.report({
                increment: pct - shown,
                message: `${mb(p.received)}${p.total ? ` of ${mb(p.total)}` : ''} MB · ${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s`,
              });
              shown = pct;
            },
          });
        });
    } catch (err) {
      const message = (err as Error).message;
      // A cancellation, or a download already running, is not an error. The messages end with
      // what running the download again will do, or with a path: no period after them.
      if (err instanceof DownloadCancelledError || err instanceof DownloadBusyError) {
        log.info(`download of ${pick.model.fileName}: ${message}`);
        void vscode.window.showInformationMessage(`SmallThinker: ${message}`);
      } else {
        log.error(`download of ${pick.model.fileName} failed: ${message}`);
        void vscode.window.showErrorMessage(`The download of ${pick.model.fileName} did not finish: ${message}`);
      }
      return;
    }
    log.info(`downloaded ${dest}`);
    await vscode.workspace.getConfiguration('smallthinker').update('modelPath', dest, vscode.ConfigurationTarget.Global);
  });
}
