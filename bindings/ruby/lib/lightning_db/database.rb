# frozen_string_literal: true

module LightningDB
  # An open database: a sorted map of binary String keys (1 to 16 KiB) to binary
  # String values (up to 256 MiB), crash-safe and transactional. Obtain one with
  # {LightningDB.open}. Thread-safe: share one object between threads.
  #
  # Keys and values may be Strings of any encoding; their bytes are stored, and
  # what comes back is ASCII-8BIT (binary). Every call on a closed database raises
  # {InvalidArgument}.
  #
  # @example
  #   LightningDB.open('app.ldb') do |db|
  #     db['hello'] = 'world'
  #     db['hello']                          # => "world"
  #     db.each(prefix: 'h') { |key, value| puts key }
  #   end
  class Database
    include Enumerable

    # @api private: use {LightningDB.open}.
    # @param inner [LightningDb::Database] the generated object
    def initialize(inner)
      @inner = inner
      # The C ABI's token for this same open database: the hot calls go there.
      # Kept until this object is collected, not just until close: after close,
      # C calls on it then fail as the generated ones do ("the database is closed").
      @db = inner.native_handle
      ObjectSpace.define_finalizer(self, Database.releaser(@db))
    end

    # @api private
    def self.releaser(token)
      proc { Native.release(token) }
    end

    # The value stored under `key`, or nil.
    # @param key [String]
    # @return [String, nil] binary (ASCII-8BIT)
    # @raise [InvalidArgument] empty or oversized key, closed database
    def get(key)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)

      (Thread.current[:__lightning_db_scratch] || Native.scratch).get(@db, key)
    end
    alias [] get

    # Like Hash#fetch: the value of `key`; if there is none, the block's result,
    # else `default`, else KeyError.
    # @return [String, Object]
    def fetch(key, *default)
      raise ArgumentError, "wrong number of arguments (given #{default.size + 1}, expected 1..2)" if default.size > 1

      value = get(key)
      return value unless value.nil?
      return yield(key) if block_given?
      return default.first unless default.empty?

      raise KeyError.new("key not found: #{key.inspect}", receiver: self, key: key)
    end

    # Stores `value` under `key`, replacing any previous value, as one commit
    # (durable on return under `sync_mode: :full`).
    # @param key [String] 1 to 16384 bytes
    # @param value [String] up to 256 MiB
    # @return [String] value
    def put(key, value)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)
      raise TypeError, "value must be a String, not #{value.class}" unless value.is_a?(String)

      # The call releases the GVL, so another thread could resize these Strings
      # under it: it gets copies that nothing else can reach (a copy shares the
      # bytes until one side is written; frozen Strings cannot be).
      key = key.dup unless key.frozen?
      value = value.dup unless value.frozen?
      rc = Native.put(@db, key, key.bytesize, value, value.bytesize)
      raise Native.error(rc) unless rc == Native::SUCCESS

      value
    end

    # `db[key] = value`: {#put}.
    def []=(key, value)
      put(key, value)
    end

    # Whether `key` is stored (its value is not read).
    # @return [Boolean]
    def key?(key)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)

      s = Native.scratch
      rc = Native.contains(@db, key, key.bytesize, s.buf)
      raise Native.error(rc) unless rc == Native::SUCCESS

      s.buf.get_uint8(0) != 0
    end
    alias include? key?
    alias has_key? key?
    alias member? key?
    alias contains? key?

    # Deletes `key` as one commit.
    # @return [Boolean] whether the key was present (deleting a missing key is
    #   not an error)
    def delete(key)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)

      s = Native.scratch
      rc = Native.delete_found(@db, key, key.bytesize, s.buf)
      raise Native.error(rc) unless rc == Native::SUCCESS

      s.buf.get_uint8(0) != 0
    end

    # Applies puts and deletes atomically, as one commit: all or none.
    #
    # @overload write(batch)
    #   @param batch [Batch]
    # @overload write
    #   @yieldparam batch [Batch] collect the operations; written when the block
    #     returns, dropped if it raises
    # @return [self]
    def write(batch = nil)
      if batch.nil?
        raise ArgumentError, 'write needs a Batch or a block' unless block_given?

        batch = Batch.new
        yield batch
      elsif !batch.is_a?(Batch)
        raise TypeError, "expected a LightningDB::Batch, not #{batch.class}"
      end
      # A copy for the call, which releases the GVL (see #put).
      packed = batch.packed.dup
      rc = Native.write_packed(@db, packed, packed.bytesize, batch.size)
      raise Native.error(rc) unless rc == Native::SUCCESS

      self
    end
    alias batch write

    # The number of keys stored; with an argument or a block, Enumerable#count.
    # @return [Integer]
    def count(*args, &block)
      return super if !args.empty? || block

      size
    end

    # The number of keys stored.
    # @return [Integer]
    def size
      LightningDB.translate { @inner.len }
    end
    alias length size

    # @return [Boolean] whether no key is stored
    def empty?
      size.zero?
    end

    # Yields `[key, value]` for each key of a range, in key order (descending with
    # `reverse: true`), over a snapshot taken now: writes made meanwhile are not
    # seen. Without a block, an Enumerator. The native iterator is released when
    # the block returns, breaks or raises.
    #
    # @param from [String, nil] first key, included
    # @param after [String, nil] keys after this one (excluded); instead of `from`
    # @param to [String, nil] keys before this one (excluded)
    # @param through [String, nil] keys up to this one (included); instead of `to`
    # @param prefix [String, nil] only keys starting with it; instead of bounds
    # @param reverse [Boolean]
    # @yieldparam key [String]
    # @yieldparam value [String]
    # @return [self, Enumerator]
    def each(from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false, &block)
      unless block
        return Scan.new(self, { from: from, after: after, to: to, through: through, prefix: prefix, reverse: reverse })
      end

      c = cursor(from: from, after: after, to: to, through: through, prefix: prefix, reverse: reverse,
                 finalize: false)
      begin
        c.each(&block)
      ensure
        c.close
      end
      self
    end
    alias each_pair each

    # The first pair, or the first `n` pairs, in key order ({Scan#first}: one
    # call into the library).
    # @return [Array(String, String), Array<Array(String, String)>, nil]
    def first(*n)
      each.first(*n)
    end

    # The first `n` pairs of a range (options as {#each}): {Scan#first}.
    # @api private
    def first_pairs(n, from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false)
      start, stop = LightningDB.range_bounds(from, after, to, through, prefix)
      Native.scratch.range_first(@db, nil, start, stop, reverse ? true : false, n)
    end

    # Yields each key (see {#each} for the options).
    def each_key(**range)
      return enum_for(:each_key, **range) unless block_given?

      each(**range) { |key, _| yield key }
    end

    # Yields each value (see {#each} for the options).
    def each_value(**range)
      return enum_for(:each_value, **range) unless block_given?

      each(**range) { |_, value| yield value }
    end

    # An explicit cursor over a range (options of {#each}), read with
    # {Cursor#next}, {Cursor#next_page} or {Cursor#each}. Close it when done;
    # the garbage collector releases a forgotten one.
    # @return [Cursor]
    def cursor(from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false, finalize: true)
      NativeCursor.open(@db, nil, from, after, to, through, prefix, reverse, finalize)
    end

    # Runs the block in a transaction: it reads a snapshot plus its own writes,
    # and commits when the block returns (unless the block committed or rolled
    # back itself); if the block raises, rolls back and re-raises. Without a
    # block, returns the open {Transaction} (commit or roll it back yourself).
    #
    # @yieldparam tx [Transaction]
    # @return [Object] the block's value, or the Transaction without a block
    # @raise [TransactionConflict] a key it wrote was written by a commit after
    #   it began; nothing of it was written
    def transaction
      s = Native.scratch
      rc = Native.begin_transaction(@db, s.id)
      raise Native.error(rc) unless rc == Native::SUCCESS

      tx = Transaction.new(@db, s.id.read_uint64)
      return tx unless block_given?

      begin
        result = yield tx
      rescue Exception # rubocop:disable Lint/RescueException -- roll back whatever ends the block
        tx.rollback unless tx.finished?
        raise
      end
      tx.commit unless tx.finished?
      result
    end

    # Syncs everything and writes a checkpoint of the index: the next open does
    # not replay the log, and a copy of the directory is consistent.
    # @return [nil]
    def checkpoint
      LightningDB.translate { @inner.checkpoint }
      nil
    end

    # Rewrites live data into new segments and removes the old ones.
    # @return [LightningDb::CompactionReport] segments_before, segments_after,
    #   bytes_before, bytes_after, records_copied
    def compact
      LightningDB.translate { @inner.compact }
    end

    # Writes a consistent copy of the database into `dest` (missing or empty)
    # while readers and writers continue.
    # @return [nil]
    def backup(dest)
      LightningDB.translate { @inner.backup(LightningDB.path_string(dest)) }
      nil
    end

    # Reads every record and checks every checksum.
    # @return [LightningDb::VerifyReport] with #is_clean, #corruptions, ...
    def verify
      LightningDB.translate { @inner.verify }
    end

    # @return [LightningDb::Stats] live_keys, live_bytes, total_bytes, segments,
    #   last_seq, cache_hits, cache_misses, compactions, commits, fsyncs, checkpoints
    def stats
      LightningDB.translate { @inner.stats }
    end

    # For a read-only database: loads the commits made since it was opened.
    # @return [self]
    def refresh
      LightningDB.translate { @inner.refresh }
      self
    end

    # Syncs, seals the active segment and releases the writer lock. Closing twice
    # raises {InvalidArgument}.
    # @return [nil]
    def close
      LightningDB.translate { @inner.close }
      nil
    end

    # @return [Boolean]
    def closed?
      @inner.is_closed
    end

    # @return [String] the database's directory
    def path
      @inner.path
    end

    # @return [LightningDb::Config] the options it was opened with
    def config
      @inner.config
    end

    # @return [String]
    def inspect
      "#<#{self.class} #{path}#{closed? ? ' (closed)' : ''}>"
    end
  end
end
