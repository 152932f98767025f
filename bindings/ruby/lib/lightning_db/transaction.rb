# frozen_string_literal: true

module LightningDB
  # A transaction: it reads the snapshot of the latest commit at its start plus
  # its own writes, and buffers its writes until {#commit}, which applies all of
  # them atomically or raises {TransactionConflict} (snapshot isolation). After
  # commit or rollback every call raises {InvalidArgument}. Obtain one with
  # {Database#transaction}.
  class Transaction
    # @api private
    def initialize(inner)
      @inner = inner
    end

    # The value of `key` as this transaction sees it, or nil.
    # @return [String, nil] binary
    def get(key)
      value = LightningDB.translate { @inner.get(LightningDB.bytes(key, 'key')) }
      value&.b
    end
    alias [] get

    # Like Hash#fetch (see {Database#fetch}).
    def fetch(key, *default)
      raise ArgumentError, "wrong number of arguments (given #{default.size + 1}, expected 1..2)" if default.size > 1

      value = get(key)
      return value unless value.nil?
      return yield(key) if block_given?
      return default.first unless default.empty?

      raise KeyError.new("key not found: #{key.inspect}", receiver: self, key: key)
    end

    # Buffers a put of `value` under `key`.
    # @return [String] value
    def put(key, value)
      LightningDB.translate { @inner.put(LightningDB.bytes(key, 'key'), LightningDB.bytes(value, 'value')) }
      value
    end

    # `tx[key] = value`: {#put}.
    def []=(key, value)
      put(key, value)
    end

    # Whether this transaction sees `key`.
    # @return [Boolean]
    def key?(key)
      LightningDB.translate { @inner.contains(LightningDB.bytes(key, 'key')) }
    end
    alias include? key?
    alias has_key? key?
    alias member? key?
    alias contains? key?

    # Buffers a delete of `key`.
    # @return [nil]
    def delete(key)
      LightningDB.translate { @inner.delete(LightningDB.bytes(key, 'key')) }
      nil
    end

    # Yields `[key, value]` as this transaction sees the database (its snapshot
    # with its own writes); options as {Database#each}.
    # @return [self, Enumerator]
    def each(**range, &block)
      return enum_for(:each, **range) unless block

      c = cursor(**range)
      begin
        c.each(&block)
      ensure
        c.close
      end
      self
    end
    alias each_pair each
    include Enumerable

    # An explicit cursor (options as {Database#each}).
    # @return [Cursor]
    def cursor(from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false)
      reverse = reverse ? true : false
      inner = if prefix.nil?
                start, stop = LightningDB.key_bounds(from, after, to, through)
                LightningDB.translate { @inner.scan(start, stop, reverse) }
              else
                LightningDB.check_no_bounds(from, after, to, through)
                LightningDB.translate { @inner.scan_prefix(LightningDB.bytes(prefix, 'prefix'), reverse) }
              end
      GeneratedCursor.new(inner)
    end

    # Makes every write durable atomically, or none.
    # @raise [TransactionConflict]
    # @return [nil]
    def commit
      LightningDB.translate { @inner.commit }
      nil
    end

    # Discards the transaction's writes.
    # @return [nil]
    def rollback
      LightningDB.translate { @inner.rollback }
      nil
    end

    # @return [Boolean] true after commit or rollback
    def finished?
      @inner.is_finished
    end

    # @return [Integer] the sequence number of the commit this transaction reads
    def snapshot_seq
      @inner.snapshot_seq
    end
  end
end
