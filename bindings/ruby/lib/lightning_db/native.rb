# frozen_string_literal: true

require 'ffi'

module LightningDB
  # The direct path into the library's C ABI (ffi-c/include/lightning_db_ffi.h)
  # for the hot calls. A UniFFI call from Ruby costs microseconds (it serialises
  # every argument into a buffer); a plain `ffi` call costs tens of nanoseconds, so
  # get, put, contains, batches and scan pages come here, on the C token of the
  # same open database that the generated object holds (`Database#native_handle`).
  #
  # Not public API: {LightningDB::Database} is.
  module Native
    extend FFI::Library

    # The library the gem carries, beside this file: loaded by absolute path, so
    # neither LD_LIBRARY_PATH nor a system install is involved. The generated module
    # names the same file (ffi-c/uniffi.toml), so the process maps it once and both
    # paths share its handle table.
    LIBRARY = File.expand_path(FFI.map_library_name('lightning_db_ffi'), __dir__)
    ffi_lib LIBRARY

    # `enum LightningDBError`'s Success.
    SUCCESS = 0
    # `LIGHTNING_DB_NO_VALUE` (SIZE_MAX): the key has no value.
    NO_VALUE = (1 << (8 * FFI.type_size(:size_t))) - 1

    # Handles (LightningDB*, LightningDBIterator*) are registry tokens, never
    # dereferenced on this side: they travel as integers.
    typedef :uintptr_t, :handle

    attach_function :last_error_code, :lightning_db_last_error_code, [], :int
    attach_function :last_error_message, :lightning_db_last_error_message, [], :pointer

    # Point reads take microseconds at most: they keep the GVL (releasing and
    # retaking it would cost more than the call).
    attach_function :get_into, :lightning_db_get_into,
                    [:handle, :pointer, :size_t, :pointer, :size_t, :pointer], :int
    attach_function :contains, :lightning_db_contains, [:handle, :pointer, :size_t, :pointer], :int
    attach_function :iter_range, :lightning_db_iter_range,
                    [:handle, :pointer, :size_t, :pointer, :size_t, :bool, :pointer], :int
    attach_function :iter_prefix, :lightning_db_iter_prefix, [:handle, :pointer, :size_t, :bool, :pointer], :int
    attach_function :iter_next_page, :lightning_db_iter_next_page,
                    [:handle, :pointer, :size_t, :size_t, :pointer, :pointer], :int
    attach_function :iter_free, :lightning_db_iter_free, [:handle], :void
    attach_function :range_first, :lightning_db_range_first,
                    [:handle, :pointer, :size_t, :pointer, :size_t, :bool, :pointer, :size_t, :size_t,
                     :pointer, :pointer, :pointer], :int
    attach_function :range_first_tx, :lightning_db_range_first_tx,
                    [:handle, :uint64, :pointer, :size_t, :pointer, :size_t, :bool, :pointer, :size_t, :size_t,
                     :pointer, :pointer, :pointer], :int
    attach_function :begin_transaction, :lightning_db_begin_transaction, [:handle, :pointer], :int
    attach_function :get_tx_into, :lightning_db_get_tx_into,
                    [:handle, :uint64, :pointer, :size_t, :pointer, :size_t, :pointer], :int
    attach_function :put_tx, :lightning_db_put_tx, [:handle, :uint64, :pointer, :size_t, :pointer, :size_t], :int
    attach_function :delete_tx, :lightning_db_delete_tx, [:handle, :uint64, :pointer, :size_t], :int
    attach_function :contains_tx, :lightning_db_contains_tx, [:handle, :uint64, :pointer, :size_t, :pointer], :int
    attach_function :abort_transaction, :lightning_db_abort_transaction, [:handle, :uint64], :int
    attach_function :iter_range_tx, :lightning_db_iter_range_tx,
                    [:handle, :uint64, :pointer, :size_t, :pointer, :size_t, :bool, :pointer], :int
    attach_function :iter_prefix_tx, :lightning_db_iter_prefix_tx,
                    [:handle, :uint64, :pointer, :size_t, :bool, :pointer], :int
    # Lets go of a token from `native_handle()` without closing the database.
    attach_function :release, :lightning_db_release, [:handle], :void

    # Commits may wait for fdatasync: they release the GVL so that other Ruby
    # threads run meanwhile.
    attach_function :put, :lightning_db_put, [:handle, :pointer, :size_t, :pointer, :size_t], :int, blocking: true
    attach_function :delete_found, :lightning_db_delete_found, [:handle, :pointer, :size_t, :pointer], :int,
                    blocking: true
    attach_function :write_packed, :lightning_db_write_packed, [:handle, :pointer, :size_t, :size_t], :int,
                    blocking: true
    attach_function :commit_transaction, :lightning_db_commit_transaction, [:handle, :uint64], :int, blocking: true

    # size_t and uintptr_t out-parameters are read as C `unsigned long`, which
    # has their size on every Unix (LP64 and ILP32).
    #
    # Per-thread out-parameters and the buffer values are copied into: allocated
    # once per thread, not per call. Per thread, because the GVL may pass to
    # another thread between a call and the read of what it wrote.
    class Scratch
      # Bytes a value may have to arrive in one call; larger ones grow the buffer.
      INITIAL = 64 * 1024

      # Page buffers kept for the next cursors of this thread, at most.
      POOL = 4

      attr_reader :buf, :cap, :out, :out2, :id

      def initialize
        @out = FFI::MemoryPointer.new(:size_t, 1, false)
        @out2 = FFI::MemoryPointer.new(:size_t, 1, false)
        @unfit = FFI::MemoryPointer.new(:uintptr_t, 1, false)
        @id = FFI::MemoryPointer.new(:uint64, 1, false)
        @pages = []
        resize(INITIAL)
      end

      # Makes room for at least `bytes` bytes.
      def resize(bytes)
        @cap = bytes
        @buf = FFI::MemoryPointer.new(:uint8, bytes, false)
      end

      # A buffer for a cursor's pages: each open cursor has its own, since a
      # cursor's pairs are read from it between other calls (a get, another
      # scan) of the same thread.
      def take_page
        @pages.pop || FFI::MemoryPointer.new(:uint8, INITIAL, false)
      end

      # Takes back a closed cursor's buffer for the next one.
      def give_page(page)
        @pages.push(page) if @pages.size < POOL && page.size == INITIAL
      end

      # The value of `key` in database token `db` (`get_into`), or as transaction
      # id `tx` of it sees it (`get_tx_into`); nil if none. A method of the scratch
      # so that the hot path reads its buffers as instance variables, not through
      # a reader call each.
      def get(db, key, tx = nil)
        while true # rubocop:disable Style/InfiniteLoop -- `loop` costs a block per get
          rc = if tx
                 Native.get_tx_into(db, tx, key, key.bytesize, @buf, @cap, @out)
               else
                 Native.get_into(db, key, key.bytesize, @buf, @cap, @out)
               end
          raise Native.error(rc) unless rc == SUCCESS

          len = @out.read_ulong
          return nil if len == NO_VALUE
          return @buf.read_bytes(len) if len <= @cap

          resize(len) # then read it again: it did not fit
        end
      end

      # The first `n` pairs of a range (bounds as the C ABI takes them) of
      # database token `db`, or as transaction id `tx` of it sees it: one
      # `range_first` call, and the iterator it returns read only when a pair
      # did not fit in the buffer.
      def range_first(db, tx, start, stop, reverse, n)
        start_len = start&.bytesize || 0
        stop_len = stop&.bytesize || 0
        rc = if tx
               Native.range_first_tx(db, tx, start, start_len, stop, stop_len, reverse, @buf, @cap, n,
                                     @out, @out2, @unfit)
             else
               Native.range_first(db, start, start_len, stop, stop_len, reverse, @buf, @cap, n, @out, @out2, @unfit)
             end
        raise Native.error(rc) unless rc == SUCCESS

        count = @out.read_ulong
        unfit = @unfit.read_ulong
        pairs = Native.pairs(@buf, count)
        return pairs if unfit.zero?

        # A pair did not fit: the iterator starts with it.
        cursor = NativeCursor.new(unfit, false)
        begin
          pairs.concat(cursor.next_page(n - count))
        ensure
          cursor.close
        end
      end
    end

    module_function

    # @return [Scratch] this thread's scratch buffers
    def scratch
      Thread.current[:__lightning_db_scratch] ||= Scratch.new
    end

    # The value of `key` as transaction `tx` sees it (`get_tx_into`), or nil.
    def get_tx(db, tx, key)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)

      scratch.get(db, key, tx)
    end

    # The `count` pairs of a page at the start of `buf` (the format of
    # `lightning_db_iter_next_page`): each is its key's and its value's lengths,
    # two little-endian u32, read as one little-endian u64 whose low half is the
    # key's, then the key and the value.
    def pairs(buf, count)
      view = buf.order(:little)
      pos = 0
      Array.new(count) do
        lengths = view.get_uint64(pos)
        key_len = lengths & 0xffff_ffff
        key = view.get_bytes(pos + 8, key_len)
        pos += 8 + key_len
        value_len = lengths >> 32
        value = view.get_bytes(pos, value_len)
        pos += value_len
        [key, value]
      end
    end

    # The exception for a failed call's code, with this thread's detail message.
    def error(code)
      message = last_error_message.read_string.force_encoding(Encoding::UTF_8)
      klass = ERRORS_BY_CODE.fetch(code, UnknownError)
      klass.new(message.empty? ? "error code #{code}" : message)
    end
  end
end
