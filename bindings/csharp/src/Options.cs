using System;
using LightningDB.Interop;

namespace LightningDB
{
    /// <summary>When a commit is forced to stable storage. In every mode a commit has been handed
    /// to the operating system before the call returns, so it survives the process being killed;
    /// the modes differ on power loss.</summary>
    public enum SyncMode
    {
        /// <summary>Default. The commit is on stable storage before the call returns (concurrent
        /// committers share one sync). Survives power loss.</summary>
        Full = (int)LightningDBSyncMode.SyncFull,
        /// <summary>A background thread syncs within <see cref="LightningDbOptions.NormalSyncIntervalMs"/>
        /// of a commit; a power loss loses at most that last interval.</summary>
        Normal = (int)LightningDBSyncMode.SyncNormal,
        /// <summary>Synced only by checkpoint, close, segment roll-over and compaction.</summary>
        Off = (int)LightningDBSyncMode.SyncOff,
    }

    /// <summary>Options for <see cref="LightningDb.Open"/> and <see cref="LightningDb.Create"/>.
    /// Every property starts at the engine's default; the library checks the values when the
    /// database is opened (a bad one is an <see cref="InvalidArgumentException"/>).</summary>
    public sealed class LightningDbOptions
    {
        /// <summary>I/O unit in bytes: a power of two from 512 to 65536 (default 4096).</summary>
        public int PageSize { get; set; } = 4096;

        /// <summary>Bytes of values kept in the read cache, for records of 1 KiB and more (default 64 MiB; 0 disables it).</summary>
        public long CacheSize { get; set; } = 64L * 1024 * 1024;

        /// <summary>When commits reach stable storage (default <see cref="LightningDB.SyncMode.Full"/>).</summary>
        public SyncMode SyncMode { get; set; } = SyncMode.Full;

        /// <summary>Open without the writer lock: any number of read-only handles, in any process,
        /// may be open beside one writer; writes fail with <see cref="InvalidArgumentException"/>.
        /// Only <see cref="LightningDb.Open"/> accepts it.</summary>
        public bool ReadOnly { get; set; }

        /// <summary>Size at which a segment file is sealed and a new one started: 4096 to
        /// 2147483647 bytes (default 64 MiB).</summary>
        public long SegmentSize { get; set; } = 64L * 1024 * 1024;

        /// <summary>Compact in the background when enough of the segment bytes are dead
        /// (default true). <see cref="LightningDb.Compact"/> works either way.</summary>
        public bool AutoCompact { get; set; } = true;

        /// <summary>Share of dead segment bytes, in (0, 1], that starts background compaction
        /// (default 0.5).</summary>
        public double CompactionDeadRatio { get; set; } = 0.5;

        /// <summary>Dead bytes needed before background compaction starts (default 16 MiB).</summary>
        public long CompactionMinDeadBytes { get; set; } = 16L * 1024 * 1024;

        /// <summary>How soon after a commit <see cref="LightningDB.SyncMode.Normal"/> syncs it, in
        /// milliseconds (at least 1; default 100).</summary>
        public long NormalSyncIntervalMs { get; set; } = 100;

        /// <summary>A native config handle holding these options; the caller frees it.</summary>
        internal unsafe LightningDBConfig* ToNative()
        {
            LightningDBConfig* config = NativeMethods.lightning_db_config_new();
            if (config == null)
            {
                Native.ThrowLast();
            }
            try
            {
                // Negative sizes cannot be passed as size_t/u64 without wrapping into huge
                // valid-looking numbers, so they are refused here with the library's code.
                Native.Check(NativeMethods.lightning_db_config_set_page_size(config, Native.Size(PageSize, "PageSize")));
                Native.Check(NativeMethods.lightning_db_config_set_cache_size(config, Native.Size(CacheSize, "CacheSize")));
                Native.Check(NativeMethods.lightning_db_config_set_sync_mode(config, (int)SyncMode));
                Native.Check(NativeMethods.lightning_db_config_set_read_only(config, ReadOnly));
                Native.Check(NativeMethods.lightning_db_config_set_segment_size(config, Native.U64(SegmentSize, "SegmentSize")));
                Native.Check(NativeMethods.lightning_db_config_set_auto_compact(config, AutoCompact));
                Native.Check(NativeMethods.lightning_db_config_set_compaction_dead_ratio(config, CompactionDeadRatio));
                Native.Check(NativeMethods.lightning_db_config_set_compaction_min_dead_bytes(config, Native.U64(CompactionMinDeadBytes, "CompactionMinDeadBytes")));
                Native.Check(NativeMethods.lightning_db_config_set_normal_sync_interval_ms(config, Native.U64(NormalSyncIntervalMs, "NormalSyncIntervalMs")));
                return config;
            }
            catch
            {
                NativeMethods.lightning_db_config_free(config);
                throw;
            }
        }
    }
}
