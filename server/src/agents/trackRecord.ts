/**
 * The agents' track record, `.crucible/optimize/optimize.json`: what they proposed and how
 * it went. The variants that passed verification (each linked to its original artifact,
 * which is never touched) with their verification records, the rejections with their
 * reasons, the agents' records (rankings), and the optimizer's own settings with their
 * history. Verified variants live here, not in `optimize/`, so training can read them.
 *
 * One small document (variant texts and capped lists) kept by `../storage.ts`: written
 * atomically under the folder's lock (`.crucible/optimize/write.lock`); a corrupt file, or
 * one of another schema version, is set aside to `*.corrupt-<timestamp>` (kept, never
 * deleted) and the record starts afresh, telling the caller once.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Range } from '../index/extract';
import { storeDirName } from '../index/files';
import { JsonStore, type StoreProblem } from '../storage';
import { type AgentRecord, defaultOptimizerSettings, newAgentRecord, type OptimizerSettings, type SettingsChange } from './bandit';
import type { MicroAgent, Rejection, VerificationRecord } from './contract';

export const trackRecordSchemaVersion = 1;
/** Rejections kept (newest), for the reasons a user may look up and for bench:optimize. */
export const maxRejections = 1000;

/** What `VariantRecord.fileHash` holds: a short hash of a file's whole text. */
export const fileHashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

export type VariantStatus = 'offered' | 'dismissed' | 'applied';

export interface VariantRecord {
  /** `<artifact id>@<agent>#<n>`. */
  id: string;
  artifact: string;
  file: string;
  /** Range of the original's whole text when it was verified. */
  range: Range;
  /** Content hash of the original when it was verified: a changed original needs re-verification before Apply. */
  originalHash: string;
  /** The original's text when verified (for Diff, and to tell whether the file still has it). */
  original: string;
  /** Hash of the whole file's text when verified: a file changed since means re-verification before Apply. */
  fileHash: string;
  agent: string;
  code: string;
  summary: string;
  verification: VerificationRecord;
  createdAt: string;
  status: VariantStatus;
  statusAt?: string;
}

export interface RejectionRecord {
  artifact: string;
  agent: string;
  at: string;
  rejection: Rejection;
}

interface TrackRecordFile {
  schemaVersion: number;
  variants: VariantRecord[];
  rejected: RejectionRecord[];
  agents: AgentRecord[];
  settings: OptimizerSettings;
  settingsHistory: SettingsChange[];
}

const empty = (): TrackRecordFile => ({ schemaVersion: trackRecordSchemaVersion, variants: [], rejected: [], agents: [], settings: { ...defaultOptimizerSettings }, settingsHistory: [] });

export class TrackRecord {
  readonly dir: string;
  private readonly store: JsonStore<TrackRecordFile>;

  constructor(
    readonly root: string,
    options: { owner?: string; lockWaitMs?: number } = {},
  ) {
    this.dir = path.join(root, storeDirName, 'optimize');
    this.store = new JsonStore({
      dir: this.dir,
      file: 'optimize.json',
      schemaVersion: trackRecordSchemaVersion,
      valid: isTrackRecordFile,
      empty,
      then: 'started the variants and rankings afresh',
      inMemory: 'variants and rankings are kept in memory only',
      owner: options.owner,
      lockWaitMs: options.lockWaitMs,
    });
  }

  get file(): string {
    return this.store.file;
  }

  private get data(): TrackRecordFile {
    return this.store.data;
  }

  /** Reads the record; returns the problems found (each already handled by setting the file aside). */
  open(): Promise<StoreProblem[]> {
    return this.store.open();
  }

  /** Makes sure each agent has a record (new agents start with a flat prior); returns them in the agents' order. */
  agentRecords(agents: readonly Pick<MicroAgent<unknown>, 'id' | 'kind' | 'description'>[]): AgentRecord[] {
    for (const a of agents) {
      const rec = this.data.agents.find((r) => r.id === a.id);
      if (!rec) {
        this.data.agents.push(newAgentRecord(a.id, a.kind, a.description));
        this.store.changed();
      } else if (rec.description !== a.description) {
        rec.description = a.description;
        this.store.changed();
      }
    }
    return agents.map((a) => this.data.agents.find((r) => r.id === a.id)!);
  }

  /** Every agent ever recorded (retired ones included). */
  allAgents(): AgentRecord[] {
    return this.data.agents;
  }

  touchAgents(): void {
    this.store.changed();
  }

  get settings(): OptimizerSettings {
    return this.data.settings;
  }

  settingsHistory(): readonly SettingsChange[] {
    return this.data.settingsHistory;
  }

  changeSettings(change: SettingsChange): void {
    this.data.settings = change.to;
    this.data.settingsHistory.push(change);
    this.store.changed();
  }

  /** Adds an accepted variant; an earlier offered variant of the same artifact by the same agent with the same code is replaced. */
  addVariant(v: Omit<VariantRecord, 'id' | 'status' | 'createdAt'> & { createdAt?: string }): VariantRecord {
    const same = this.data.variants.findIndex((x) => x.artifact === v.artifact && x.agent === v.agent && x.code === v.code && x.status === 'offered');
    if (same >= 0) this.data.variants.splice(same, 1);
    const n = this.data.variants.filter((x) => x.artifact === v.artifact && x.agent === v.agent).length + 1;
    const rec: VariantRecord = { ...v, id: `${v.artifact}@${v.agent}#${n}`, status: 'offered', createdAt: v.createdAt ?? new Date().toISOString() };
    this.data.variants.push(rec);
    this.store.changed();
    return rec;
  }

  addRejection(r: RejectionRecord): void {
    this.data.rejected.push(r);
    if (this.data.rejected.length > maxRejections) this.data.rejected.splice(0, this.data.rejected.length - maxRejections);
    this.store.changed();
  }

  variants(filter: { artifact?: string; file?: string; status?: VariantStatus } = {}): VariantRecord[] {
    return this.data.variants.filter((v) => (!filter.artifact || v.artifact === filter.artifact) && (!filter.file || v.file === filter.file) && (!filter.status || v.status === filter.status));
  }

  variant(id: string): VariantRecord | undefined {
    return this.data.variants.find((v) => v.id === id);
  }

  rejections(artifact?: string): readonly RejectionRecord[] {
    return artifact ? this.data.rejected.filter((r) => r.artifact === artifact) : this.data.rejected;
  }

  /** Dismissed (remembered: the same code is not offered again) or applied. */
  setStatus(id: string, status: VariantStatus): VariantRecord | undefined {
    const v = this.variant(id);
    if (!v) return undefined;
    v.status = status;
    v.statusAt = new Date().toISOString();
    this.store.changed();
    return v;
  }

  /** Whether this exact code was dismissed for this artifact before (it is not offered again). */
  wasDismissed(artifact: string, code: string): boolean {
    return this.data.variants.some((v) => v.artifact === artifact && v.code === code && v.status === 'dismissed');
  }

  /** Writes what changed. Throws `StoreLockedError` when another writer keeps the lock; the record stays in memory. */
  flush(): Promise<void> {
    return this.store.flush();
  }
}

function isTrackRecordFile(d: unknown): d is TrackRecordFile {
  if (typeof d !== 'object' || d === null) return false;
  const f = d as Partial<TrackRecordFile>;
  return f.schemaVersion === trackRecordSchemaVersion && Array.isArray(f.variants) && Array.isArray(f.rejected) && Array.isArray(f.agents) && typeof f.settings === 'object' && f.settings !== null && Array.isArray(f.settingsHistory);
}
