# frozen_string_literal: true

module LightningDB
  # An ordered scan over a snapshot, read a page at a time. Yields or returns
  # `[key, value]` pairs of binary Strings. Close it when done ({#close}); a scan
  # read to its end, or a closed cursor, returns nothing more. Reading may stop
  # and resume (break out of {#each}, then {#next}): no pair is skipped.
  class Cursor
    include Enumerable

    # Pairs asked for by {#each}'s first page; each later page asks for twice as
    # many up to MAX_PAGE, so a short range reads little and a long scan few pages.
    FIRST_PAGE = 16
    # The largest page asked for.
    MAX_PAGE = 1024

    def initialize
      @done = false
      @left = 0 # pairs fetched and not yet returned
      @page = FIRST_PAGE
    end

    # Up to `max` next pairs (at least 1); an empty Array at the end.
    # @param max [Integer]
    # @return [Array<Array(String, String)>]
    def next_page(max = MAX_PAGE)
      raise ArgumentError, "max must be at least 1, not #{max.inspect}" unless max.is_a?(Integer) && max >= 1

      out = []
      while out.size < max
        pair = shift(max - out.size)
        break if pair.nil?

        out << pair
      end
      out
    end

    # The next pair, or nil at the end.
    # @return [Array(String, String), nil]
    def next
      shift(1)
    end

    # Yields every remaining pair.
    # @yieldparam key [String]
    # @yieldparam value [String]
    # @return [self, Enumerator]
    def each
      return enum_for(:each) unless block_given?

      while (pair = shift(@page))
        yield pair
      end
      self
    end

    # Releases the snapshot; later reads return the end of the scan. Idempotent.
    # @return [nil]
    def close
      @done = true
      @left = 0
      release
      nil
    end

    private

    # The next pair, fetching a page of up to `want` pairs when none is left;
    # nil at the end. Pairs are made one at a time as they are asked for.
    def shift(want)
      return nil if @done

      if @left.zero?
        @left = refill(want)
        if @left.zero?
          @done = true
          return nil
        end
        @page *= 2 if @page < MAX_PAGE
      end
      @left -= 1
      take
    end
  end

  # A cursor on the C ABI's iterator (`lightning_db_iter_next_page`): one call per
  # page of pairs, into a buffer of its own (from a per-thread pool), read pair by
  # pair as they are asked for. @api private
  class NativeCursor < Cursor
    # A cursor over a range or prefix (the options of {Database#each}) of the
    # database behind token `db`, as transaction `tx` sees it when not nil.
    def self.open(db, tx, from, after, to, through, prefix, reverse, finalize)
      s = Native.scratch
      reverse = reverse ? true : false
      if prefix.nil?
        start, stop = LightningDB.half_open(from, after, to, through)
        start_len = start&.bytesize || 0
        stop_len = stop&.bytesize || 0
        rc = if tx
               Native.iter_range_tx(db, tx, start, start_len, stop, stop_len, reverse, s.out)
             else
               Native.iter_range(db, start, start_len, stop, stop_len, reverse, s.out)
             end
      else
        LightningDB.check_no_bounds(from, after, to, through)
        raise TypeError, "prefix must be a String, not #{prefix.class}" unless prefix.is_a?(String)

        rc = if tx
               Native.iter_prefix_tx(db, tx, prefix, prefix.bytesize, reverse, s.out)
             else
               Native.iter_prefix(db, prefix, prefix.bytesize, reverse, s.out)
             end
      end
      raise Native.error(rc) unless rc == Native::SUCCESS

      new(s.out.read_ulong, finalize)
    end

    # Releases an iterator the program forgot to close.
    def self.finalizer(iter)
      proc { Native.iter_free(iter) }
    end

    def initialize(iter, finalize)
      super()
      @iter = iter
      @buf = Native.scratch.take_page
      @finalized = finalize
      ObjectSpace.define_finalizer(self, self.class.finalizer(iter)) if finalize
    end

    # Yields every remaining pair: {Cursor#each} with each page's pairs made in
    # one loop rather than a method call or two per pair (in a short range the
    # Ruby side costs more than the native one). Reading may still stop in the
    # block and resume with {#next}: the position is stored before each yield,
    # and read back after it, as the block may have moved or closed this cursor.
    def each
      return enum_for(:each) unless block_given?

      until @done
        if @left.zero?
          @left = refill(@page)
          if @left.zero?
            @done = true
            break
          end
          @page *= 2 if @page < MAX_PAGE
        end
        view = @view
        pos = @pos
        left = @left
        while left.positive?
          lengths = view.get_uint64(pos)
          key_len = lengths & 0xffff_ffff
          pos += 8
          key = view.get_bytes(pos, key_len)
          pos += key_len
          value_len = lengths >> 32
          @pos = pos + value_len
          @left = left - 1
          yield [key, view.get_bytes(pos, value_len)]
          break if @done

          view = @view
          pos = @pos
          left = @left
        end
      end
      self
    end

    private

    # Fetches the next page into the buffer; returns its number of pairs.
    def refill(want)
      raise InvalidArgument, 'the cursor is closed' if @iter.nil?

      s = Native.scratch
      while true # rubocop:disable Style/InfiniteLoop -- `loop` costs a block per page
        rc = Native.iter_next_page(@iter, @buf, @buf.size, want, s.out, s.out2)
        raise Native.error(rc) unless rc == Native::SUCCESS

        count = s.out.read_ulong
        used = s.out2.read_ulong
        if count.zero? && used.positive?
          # The next pair needs this much room; it was not consumed.
          @buf = FFI::MemoryPointer.new(:uint8, used, false)
          next
        end
        # Lengths in a page are little-endian, whatever the host's order.
        @view = @buf.order(:little)
        @pos = 0
        return count
      end
    end

    # The pair at the read position, made straight from the buffer: one String
    # per key and per value, no copy of the page. A pair starts with its key's
    # and its value's lengths, two little-endian u32: read as one little-endian
    # u64, the key's is the low half.
    def take
      view = @view
      pos = @pos
      lengths = view.get_uint64(pos)
      key_len = lengths & 0xffff_ffff
      value_len = lengths >> 32
      key = view.get_bytes(pos + 8, key_len)
      pos += 8 + key_len
      @pos = pos + value_len
      [key, view.get_bytes(pos, value_len)]
    end

    def release
      return if @iter.nil?

      Native.iter_free(@iter)
      ObjectSpace.undefine_finalizer(self) if @finalized
      @iter = nil
      Native.scratch.give_page(@buf)
      @buf = @view = nil
    end
  end
end
