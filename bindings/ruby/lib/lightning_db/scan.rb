# frozen_string_literal: true

module LightningDB
  # What {Database#each} and {Transaction#each} return without a block: an
  # Enumerator over the range's `[key, value]` pairs, in which {#first} and
  # {#take} read the pairs they return in one call into the library
  # (`lightning_db_range_first`) instead of opening a cursor, reading a page and
  # closing it, which for a short range is most of the work.
  class Scan < Enumerator
    # @api private: made by {Database#each} and {Transaction#each}.
    def initialize(owner, range)
      @owner = owner
      @range = range
      super() { |y| owner.each(**range) { |pair| y << pair } }
    end

    # Yields each pair of the range, as the owner's `each` with a block does.
    def each(&block)
      return self unless block

      @owner.each(**@range, &block)
    end

    # The first `n` pairs of the range (all of them if fewer), from one
    # snapshot; without `n`, the first pair or nil.
    # @return [Array<Array(String, String)>, Array(String, String), nil]
    def first(n = (no_count = true))
      return take(1)[0] if no_count

      take(n)
    end

    # The first `n` pairs of the range (all of them if fewer), from one snapshot.
    # @return [Array<Array(String, String)>]
    def take(n)
      unless n.is_a?(Integer)
        raise TypeError, "no implicit conversion of #{n.class} into Integer" unless n.respond_to?(:to_int)

        n = n.to_int
      end
      raise ArgumentError, 'attempt to take negative size' if n.negative?
      return [] if n.zero?

      @owner.first_pairs(n, **@range)
    end
  end

  class << self
    # The bounds of a range given as {Database#each}'s options, as the C ABI's
    # `start` and `end` take them (nil: unbounded).
    # @api private
    def range_bounds(from, after, to, through, prefix)
      return half_open(from, after, to, through) if prefix.nil?

      check_no_bounds(from, after, to, through)
      raise TypeError, "prefix must be a String, not #{prefix.class}" unless prefix.is_a?(String)

      # The first key after every key with the prefix: without its trailing
      # 0xff bytes, the last byte left plus one; none left: no end.
      stop = prefix.b
      stop = stop.byteslice(0, stop.bytesize - 1) while stop.getbyte(-1) == 0xff
      stop.setbyte(-1, stop.getbyte(-1) + 1) unless stop.empty?
      [prefix.empty? ? nil : prefix, stop.empty? ? nil : stop]
    end
  end
end
