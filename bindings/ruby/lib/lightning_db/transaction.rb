# frozen_string_literal: true

module LightningDB
  # A transaction: it reads the snapshot of the latest commit at its start plus
  # its own writes, and buffers its writes until {#commit}, which applies all of
  # them atomically or raises {TransactionConflict} (snapshot isolation). After
  # commit or rollback every call raises {InvalidArgument}. Obtain one with
  # {Database#transaction}; one that is dropped without commit is rolled back.
  #
  # Its calls take the C ABI (`lightning_db_*_tx`, by transaction id), as the
  # database's hot calls do: a generated call costs ten times more.
  class Transaction
    include Enumerable

    # The generated API's words for a finished transaction, so that both paths
    # say the same (the C ABI no longer knows a finished id).
    FINISHED = 'the transaction is finished (committed or rolled back)'
    private_constant :FINISHED

    # Rolls back a transaction the program dropped.
    def self.aborter(db, id)
      proc { Native.abort_transaction(db, id) }
    end

    # @api private: use {Database#transaction}.
    def initialize(db, id)
      @db = db
      @id = id
      @finished = false
      ObjectSpace.define_finalizer(self, Transaction.aborter(db, id))
    end

    # The value of `key` as this transaction sees it, or nil.
    # @return [String, nil] binary
    def get(key)
      check_open
      Native.get_tx(@db, @id, key)
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
      LightningDB.bytes(key, 'key')
      LightningDB.bytes(value, 'value')
      check_open
      check(Native.put_tx(@db, @id, key, key.bytesize, value, value.bytesize))
      value
    end

    # `tx[key] = value`: {#put}.
    def []=(key, value)
      put(key, value)
    end

    # Whether this transaction sees `key`.
    # @return [Boolean]
    def key?(key)
      LightningDB.bytes(key, 'key')
      check_open
      s = Native.scratch
      check(Native.contains_tx(@db, @id, key, key.bytesize, s.buf))
      s.buf.get_uint8(0) != 0
    end
    alias include? key?
    alias has_key? key?
    alias member? key?
    alias contains? key?

    # Buffers a delete of `key`.
    # @return [nil]
    def delete(key)
      LightningDB.bytes(key, 'key')
      check_open
      check(Native.delete_tx(@db, @id, key, key.bytesize))
      nil
    end

    # Yields `[key, value]` as this transaction sees the database (its snapshot
    # with its own writes made so far); options as {Database#each}.
    # @return [self, Enumerator]
    def each(from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false, &block)
      unless block
        return Scan.new(self, { from: from, after: after, to: to, through: through, prefix: prefix, reverse: reverse })
      end

      c = cursor(from: from, after: after, to: to, through: through, prefix: prefix, reverse: reverse)
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
      check_open
      start, stop = LightningDB.range_bounds(from, after, to, through, prefix)
      Native.scratch.range_first(@db, @id, start, stop, reverse ? true : false, n)
    end

    # An explicit cursor (options as {Database#each}); it stays usable after the
    # transaction ends.
    # @return [Cursor]
    def cursor(from: nil, after: nil, to: nil, through: nil, prefix: nil, reverse: false)
      check_open
      NativeCursor.open(@db, @id, from, after, to, through, prefix, reverse, true)
    end

    # Makes every write durable atomically, or none. The transaction is finished
    # whatever the outcome.
    # @raise [TransactionConflict]
    # @return [nil]
    def commit
      finish
      check(Native.commit_transaction(@db, @id))
      nil
    end

    # Discards the transaction's writes.
    # @return [nil]
    def rollback
      finish
      check(Native.abort_transaction(@db, @id))
      nil
    end

    # @return [Boolean] true after commit or rollback
    def finished?
      @finished
    end

    private

    def check_open
      raise InvalidArgument, FINISHED if @finished
    end

    def finish
      check_open
      @finished = true
      ObjectSpace.undefine_finalizer(self)
    end

    def check(code)
      raise Native.error(code) unless code == Native::SUCCESS
    end
  end
end
