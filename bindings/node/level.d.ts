// Types of `lightning-db/level` (level.js), the abstract-level database over
// Lightning DB.

import { AbstractLevel, AbstractDatabaseOptions } from 'abstract-level'
import { Database, Options } from './index'

/** Options of a LightningLevel: the level options and Lightning DB's options of open(). */
export interface LightningLevelOptions<K, V> extends AbstractDatabaseOptions<K, V>, Options {}

/**
 * An abstract-level database stored in Lightning DB in the directory `location`:
 * works with sublevels, encodings and the rest of the level ecosystem. Supports
 * implicit and explicit snapshots, seek, has/hasMany and getSync. Keys must not be
 * empty (Lightning DB keys are 1 to 16384 bytes).
 */
export declare class LightningLevel<KDefault = string, VDefault = string> extends AbstractLevel<Buffer, KDefault, VDefault> {
  constructor(location: string, options?: LightningLevelOptions<KDefault, VDefault>)
  /** The directory, as given. */
  get location(): string
  /** The Lightning DB database underneath, while open (null otherwise). */
  get database(): Database | null
}
