// The error a remote-engine request fails with, for tests that expect one.
import assert from 'node:assert/strict';
import { RemoteError } from '../../src/remote/client';

export async function remoteFailure(promise: Promise<unknown>): Promise<RemoteError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RemoteError, `expected a RemoteError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the request to fail');
}
