// The dashboard with its own Temporal client, for hosts that have none (`dev` runs only a worker):
// one call to start both, one to close both.
import { Client, Connection } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { startDashboard, type RunningDashboard } from './server';

export interface OwnDashboardOptions {
  address: string;
  namespace: string;
  port: number;
  host?: string;
  token?: string;
  temporalUiUrl?: string;
  log?: (line: string) => void;
  tokenHint?: string;
}

export async function startOwnDashboard(o: OwnDashboardOptions): Promise<RunningDashboard> {
  const connection = await Connection.connect({ address: o.address });
  try {
    const dashboard = await startDashboard({
      client: new Client({ connection, namespace: o.namespace }),
      token: o.token ?? randomBytes(18).toString('base64url'),
      host: o.host,
      port: o.port,
      temporalUiUrl: o.temporalUiUrl,
      log: o.log,
      tokenHint: o.tokenHint,
    });
    return {
      ...dashboard,
      close: async () => {
        await dashboard.close();
        await connection.close();
      },
    };
  } catch (err) {
    await connection.close();
    throw err;
  }
}
