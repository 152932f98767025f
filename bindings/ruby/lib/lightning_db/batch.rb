# frozen_string_literal: true

module LightningDB
  # Puts and deletes collected to be applied atomically, as one commit, by
  # {Database#write}. Operations apply in the order they were added.
  #
  # @example
  #   db.write do |batch|
  #     batch['a'] = '1'
  #     batch.delete('b')
  #   end
  class Batch
    # The operations, packed as `lightning_db_write_packed` takes them: each
    # [u8 op][u32 key length][u32 value length][key][value].
    # @api private
    attr_reader :packed

    # @return [Integer] the number of operations
    attr_reader :size
    alias length size

    PUT = 1
    DELETE = 2
    private_constant :PUT, :DELETE

    def initialize
      @packed = String.new(capacity: 4096, encoding: Encoding::BINARY)
      @size = 0
    end

    # Adds a put of `value` under `key`.
    # @return [self]
    def put(key, value)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)
      raise TypeError, "value must be a String, not #{value.class}" unless value.is_a?(String)

      # Lengths are u32: a larger one would wrap; let the library refuse it.
      check_length(key, 'key')
      check_length(value, 'value')
      @packed << [PUT, key.bytesize, value.bytesize, key, value].pack('CL<L<a*a*')
      @size += 1
      self
    end

    # `batch[key] = value`: {#put}.
    def []=(key, value)
      put(key, value)
      value
    end

    # Adds a delete of `key`.
    # @return [self]
    def delete(key)
      raise TypeError, "key must be a String, not #{key.class}" unless key.is_a?(String)

      check_length(key, 'key')
      @packed << [DELETE, key.bytesize, 0, key].pack('CL<L<a*')
      @size += 1
      self
    end

    # @return [Boolean]
    def empty?
      @size.zero?
    end

    # Removes every operation, so the batch can be reused.
    # @return [self]
    def clear
      @packed.clear
      @size = 0
      self
    end

    private

    def check_length(bytes, what)
      return if bytes.bytesize <= 0xffff_ffff

      raise InvalidArgument, "#{what} of #{bytes.bytesize} bytes is too long"
    end
  end
end
