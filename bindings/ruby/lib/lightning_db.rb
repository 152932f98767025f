# frozen_string_literal: true

# Lightning DB: an embedded, crash-safe, transactional key-value store.
#
#   require 'lightning_db'
#
#   LightningDB.open('app.ldb') do |db|
#     db['hello'] = 'world'
#     db.transaction { |tx| tx['k'] = tx['hello'] }
#     db.each(prefix: 'k') { |key, value| puts "#{key} = #{value}" }
#   end
#
# Everything goes to the one native library the gem carries
# (lib/lightning_db/liblightning_db_ffi.so): the UniFFI-generated module
# (lib/lightning_db/generated, module LightningDb) for the complete API, and the
# library's C ABI for the hot calls (get, put, contains, batches, scans,
# transactions), both on the same open database.
module LightningDB; end

require_relative 'lightning_db/version'
require_relative 'lightning_db/errors'
begin
  # Ruby's -w finds mismatched indentation in the generated file: about its
  # layout, not its behaviour, and not ours to edit.
  verbose = $VERBOSE
  $VERBOSE = nil
  require_relative 'lightning_db/generated/lightning_db'
ensure
  $VERBOSE = verbose
end
require_relative 'lightning_db/native'
require_relative 'lightning_db/cursor'
require_relative 'lightning_db/scan'
require_relative 'lightning_db/batch'
require_relative 'lightning_db/transaction'
require_relative 'lightning_db/database'

module LightningDB
  # `sync_mode:` values: when a commit reaches stable storage.
  # - `:full` (default): before the call returns (fdatasync); survives power loss.
  # - `:normal`: within `normal_sync_interval_ms` (100) after it; a power loss
  #   loses at most that last interval.
  # - `:off`: at checkpoint, close, segment roll-over and compaction.
  SYNC_MODES = {
    full: LightningDb::SyncMode::FULL,
    normal: LightningDb::SyncMode::NORMAL,
    off: LightningDb::SyncMode::OFF
  }.freeze

  # The options of {LightningDB.open}: the fields of the library's Config.
  OPTIONS = %i[page_size cache_size sync_mode read_only segment_size auto_compact
               compaction_dead_ratio compaction_min_dead_bytes normal_sync_interval_ms].freeze

  # The exception classes of the generated module, which share no base class.
  GENERATED_ERRORS = LightningDb::LightningDbError.constants.map do |name|
    LightningDb::LightningDbError.const_get(name, false)
  end.select { |c| c.is_a?(Class) && c < StandardError }.freeze
  private_constant :GENERATED_ERRORS

  class << self
    # Opens the database in directory `path`; with a block, yields it, closes it
    # when the block ends and returns the block's value.
    #
    # @param path [String, Pathname]
    # @param create [Boolean] create the directory and an empty database if there
    #   is none (default: true unless `read_only:`); false: {IoError} if none
    # @param options the database's options:
    #   `page_size:` (4096; a power of two in 512..65536), `cache_size:` (bytes of
    #   values of 1 KiB and more cached, 64 MiB; 0 disables), `sync_mode:` (`:full`, `:normal`,
    #   `:off`; see {SYNC_MODES}), `read_only:` (false; no writer lock, writes
    #   raise {InvalidArgument}), `segment_size:` (64 MiB), `auto_compact:` (true),
    #   `compaction_dead_ratio:` (0.5), `compaction_min_dead_bytes:` (16 MiB),
    #   `normal_sync_interval_ms:` (100)
    # @yieldparam db [Database]
    # @return [Database, Object] the database, or the block's value
    # @raise [DatabaseLocked] another handle or process has it open for writing
    # @raise [InvalidArgument] a bad option value
    # @raise [IoError, CorruptedData]
    def open(path, create: nil, **options)
      create = !options[:read_only] if create.nil?
      path = path_string(path)
      config = config(options)
      inner = translate do
        create ? LightningDb::Database.create(path, config) : LightningDb::Database.open(path, config)
      end
      db = Database.new(inner)
      return db unless block_given?

      begin
        yield db
      ensure
        db.close unless db.closed?
      end
    end

    # The native library's version, e.g. "0.1.0".
    # @return [String]
    def library_version
      LightningDb.version
    end

    # Runs the block, raising the {Error} subclass of a generated exception in
    # its place (the original is its `cause`). @api private
    def translate
      yield
    rescue LightningDb::InternalError => e
      raise UnknownError, e.message
    rescue *GENERATED_ERRORS => e
      raise ERRORS_BY_VARIANT.fetch(e.class.name.split('::').last), e.message
    end

    # @api private
    def bytes(value, what)
      raise TypeError, "#{what} must be a String, not #{value.class}" unless value.is_a?(String)

      value
    end

    # The bounds of {Database#each} as one half-open range [start, stop) of the
    # C ABI: the key right after k is k + "\0", so "after k" starts there and
    # "through k" stops there. nil: unbounded. @api private
    def half_open(from, after, to, through)
      check_pair(from, after, 'from', 'after')
      check_pair(to, through, 'to', 'through')
      start = if after then bytes(after, 'after') + "\0"
              elsif from then bytes(from, 'from').empty? ? nil : from
              end
      stop = if through then bytes(through, 'through') + "\0"
             elsif to
               # No key is below "" (nor below "\0": keys are not empty), and an
               # empty end is "unbounded" to the C ABI.
               bytes(to, 'to').empty? ? "\0" : to
             end
      [start, stop]
    end

    # @api private
    def check_no_bounds(*bounds)
      raise ArgumentError, 'prefix: excludes from:, after:, to: and through:' unless bounds.all?(&:nil?)
    end

    # @api private
    def path_string(path)
      path = path.to_path if path.respond_to?(:to_path)
      raise TypeError, "path must be a String or Pathname, not #{path.class}" unless path.is_a?(String)
      unless path.dup.force_encoding(Encoding::UTF_8).valid_encoding?
        raise InvalidUtf8, "path #{path.inspect} is not valid UTF-8"
      end

      path.dup.force_encoding(Encoding::UTF_8)
    end

    private

    def check_pair(one, other, one_name, other_name)
      raise ArgumentError, "give #{one_name}: or #{other_name}:, not both" if one && other
    end

    def config(options)
      return nil if options.empty?

      unknown = options.keys - OPTIONS
      raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.join(', ')}" unless unknown.empty?

      if options.key?(:sync_mode)
        mode = options[:sync_mode]
        options = options.merge(sync_mode: SYNC_MODES.fetch(mode.respond_to?(:to_sym) ? mode.to_sym : mode) do
          raise InvalidArgument, "sync_mode must be one of #{SYNC_MODES.keys.inspect}, not #{mode.inspect}"
        end)
      end
      LightningDb::Config.new(**options)
    end
  end
end
