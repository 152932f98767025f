# frozen_string_literal: true

module LightningDB
  # An ordered scan over a snapshot, read a page at a time. Yields or returns
  # `[key, value]` pairs of binary Strings. Close it when done ({#close}); a scan
  # read to its end, or a closed cursor, returns nothing more.
  class Cursor
    include Enumerable

    # Pairs asked for by the first page; each later page asks for twice as many
    # up to MAX_PAGE, so a short range reads little and a long scan few pages.
    FIRST_PAGE = 16
    # The largest page asked for.
    MAX_PAGE = 1024

    def initialize
      @done = false
      @page = FIRST_PAGE
    end

    # Up to `max` next pairs (at least 1); an empty Array at the end.
    # @param max [Integer]
    # @return [Array<Array(String, String)>]
    def next_page(max = MAX_PAGE)
      raise ArgumentError, "max must be at least 1, not #{max.inspect}" unless max.is_a?(Integer) && max >= 1
      return [] if @done

      out = fetch(max)
      @done = true if out.empty?
      out
    end

    # The next pair, or nil at the end.
    # @return [Array(String, String), nil]
    def next
      next_page(1).first
    end

    # Yields every remaining pair.
    # @yieldparam key [String]
    # @yieldparam value [String]
    # @return [self, Enumerator]
    def each
      return enum_for(:each) unless block_given?

      until @done
        page = fetch(@page)
        @done = true if page.empty?
        page.each { |pair| yield pair }
        @page *= 2 if @page < MAX_PAGE
      end
      self
    end

    # Releases the snapshot; later reads return the end of the scan. Idempotent.
    # @return [nil]
    def close
      @done = true
      release
      nil
    end
  end

  # A cursor on the C ABI's iterator (`lightning_db_iter_next_page`): one call per
  # page of pairs. @api private
  class NativeCursor < Cursor
    # Releases an iterator the program forgot to close.
    def self.finalizer(iter)
      proc { Native.iter_free(iter) }
    end

    def initialize(iter, finalize)
      super()
      @iter = iter
      @finalized = finalize
      ObjectSpace.define_finalizer(self, self.class.finalizer(iter)) if finalize
    end

    # Up to `max` next pairs; empty at the end.
    def fetch(max)
      raise InvalidArgument, 'the cursor is closed' if @iter.nil?

      s = Native.scratch
      loop do
        rc = Native.iter_next_page(@iter, s.buf, s.cap, max, s.out, s.out2)
        raise Native.error(rc) unless rc == Native::SUCCESS

        count = s.out.read_ulong
        used = s.out2.read_ulong
        if count.zero?
          return [] if used.zero?

          s.resize(used) # the next pair needs this much room; it was not consumed
          next
        end
        # The whole page is read before anything is yielded: the caller's block
        # may use this thread's scratch buffer (a get, another scan) meanwhile.
        # Straight from the buffer: one String made per key and per value, no
        # intermediate copy of the page and no format string to parse.
        buf = s.page
        pairs = Array.new(count)
        pos = 0
        count.times do |i|
          key_len = buf.get_uint32(pos)
          value_len = buf.get_uint32(pos + 4)
          key = buf.get_bytes(pos + 8, key_len)
          pos += 8 + key_len
          pairs[i] = [key, buf.get_bytes(pos, value_len)]
          pos += value_len
        end
        return pairs
      end
    end

    def release
      return if @iter.nil?

      Native.iter_free(@iter)
      ObjectSpace.undefine_finalizer(self) if @finalized
      @iter = nil
    end
  end

  # A cursor on the generated API's Cursor (transactions' scans). @api private
  class GeneratedCursor < Cursor
    def initialize(inner)
      super()
      @inner = inner
    end

    def fetch(max)
      LightningDB.translate { @inner.next_page(max) }.map { |kv| [kv.key.b, kv.value.b] }
    end

    def release
      @inner.close
    end
  end
end
