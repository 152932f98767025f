using LightningDB.Interop;

namespace LightningDB
{
    /// <summary>Counters and sizes of an open database.</summary>
    public sealed class Stats
    {
        internal Stats(LightningDBStats s)
        {
            LiveKeys = s.live_keys; LiveBytes = s.live_bytes; TotalBytes = s.total_bytes;
            Segments = s.segments; LastSeq = s.last_seq; CacheHits = s.cache_hits;
            CacheMisses = s.cache_misses; Compactions = s.compactions; Commits = s.commits;
            Fsyncs = s.fsyncs; Checkpoints = s.checkpoints;
        }

        /// <summary>Keys currently stored.</summary>
        public ulong LiveKeys { get; }
        /// <summary>Encoded bytes of the newest record of every live key.</summary>
        public ulong LiveBytes { get; }
        /// <summary>Bytes of all segment files (live and dead data).</summary>
        public ulong TotalBytes { get; }
        /// <summary>Segment files.</summary>
        public ulong Segments { get; }
        /// <summary>Sequence number of the latest commit.</summary>
        public ulong LastSeq { get; }
        /// <summary>Point reads of records of 1 KiB and more answered from the value cache (smaller records are read from the map, past the cache, and not counted).</summary>
        public ulong CacheHits { get; }
        /// <summary>Point reads of records of 1 KiB and more that went to the segment files.</summary>
        public ulong CacheMisses { get; }
        /// <summary>Compactions run through this handle.</summary>
        public ulong Compactions { get; }
        /// <summary>Commits made through this handle.</summary>
        public ulong Commits { get; }
        /// <summary>fdatasync calls made through this handle.</summary>
        public ulong Fsyncs { get; }
        /// <summary>Checkpoints written through this handle.</summary>
        public ulong Checkpoints { get; }
    }

    /// <summary>What one <see cref="LightningDb.Compact"/> did.</summary>
    public sealed class CompactionReport
    {
        internal CompactionReport(LightningDBCompactionReport r)
        {
            SegmentsBefore = r.segments_before; SegmentsAfter = r.segments_after;
            BytesBefore = r.bytes_before; BytesAfter = r.bytes_after; RecordsCopied = r.records_copied;
        }

        /// <summary>Segment files before.</summary>
        public ulong SegmentsBefore { get; }
        /// <summary>Segment files after.</summary>
        public ulong SegmentsAfter { get; }
        /// <summary>Bytes of segment files before.</summary>
        public ulong BytesBefore { get; }
        /// <summary>Bytes of segment files after.</summary>
        public ulong BytesAfter { get; }
        /// <summary>Live records rewritten into new segments.</summary>
        public ulong RecordsCopied { get; }
    }

    /// <summary>What <see cref="LightningDb.Verify"/> read and found.</summary>
    public sealed class VerifyReport
    {
        internal VerifyReport(LightningDBVerifyReport r, string problems)
        {
            Segments = r.segments; Records = r.records; Bytes = r.bytes; LiveKeys = r.live_keys;
            UnreadableKeys = r.unreadable_keys; Corruptions = r.corruptions; Problems = problems;
        }

        /// <summary>Segment files read.</summary>
        public ulong Segments { get; }
        /// <summary>Records read with a good checksum.</summary>
        public ulong Records { get; }
        /// <summary>Bytes of those records.</summary>
        public ulong Bytes { get; }
        /// <summary>Keys currently stored.</summary>
        public ulong LiveKeys { get; }
        /// <summary>Live keys whose newest value cannot be read back intact.</summary>
        public ulong UnreadableKeys { get; }
        /// <summary>Damaged places found.</summary>
        public ulong Corruptions { get; }
        /// <summary>The library's description of the first damaged places (file, offset,
        /// reason); empty when clean.</summary>
        public string Problems { get; }
        /// <summary>True when no damage was found.</summary>
        public bool IsClean { get { return Corruptions == 0; } }
    }
}
