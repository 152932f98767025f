# frozen_string_literal: true

# The public layer's idioms, errors and lifetimes, against the native library the
# gem carries.

require_relative 'test_helper'
require 'rbconfig'

# Counts the library's live handles (databases, iterators, ...): a leak check.
module Handles
  extend FFI::Library
  ffi_lib LightningDB::Native::LIBRARY
  attach_function :live, :lightning_db_live_handle_count, [], :size_t
end

# Counts the calls the public layer makes into the library's range calls.
module RangeCalls
  COUNTS = Hash.new(0)

  %i[range_first range_first_tx iter_range iter_range_tx iter_next_page iter_free].each do |name|
    define_method(name) do |*args|
      COUNTS[name] += 1
      super(*args)
    end
  end

  def self.during
    COUNTS.clear
    yield
    COUNTS.dup
  end
end
LightningDB::Native.singleton_class.prepend(RangeCalls)

class ApiTest < Minitest::Test
  def setup
    @dir = Dir.mktmpdir('lightning-db-ruby-')
    @path = File.join(@dir, 'db')
  end

  def teardown
    @db&.close unless @db.nil? || @db.closed?
    FileUtils.remove_entry(@dir)
  end

  def open_db(**options)
    @db = LightningDB.open(@path, **options)
  end

  def test_the_library_is_the_one_beside_the_ruby_files
    mapped = File.readlines('/proc/self/maps').map { |l| l.split[5] }.compact.uniq
                 .select { |path| File.basename(path).start_with?('liblightning_db_ffi') }
    expected = File.expand_path('../lib/lightning_db/liblightning_db_ffi.so', __dir__)
    assert_equal [File.realpath(expected)], mapped.map { |p| File.realpath(p) }
    assert_equal LightningDB::VERSION, LightningDB.library_version
  end

  def test_open_with_a_block_closes_it_and_returns_the_block_value
    seen = nil
    result = LightningDB.open(@path) do |db|
      seen = db
      db['k'] = 'v'
      :done
    end
    assert_equal :done, result
    assert seen.closed?
    assert_equal 'v', LightningDB.open(@path) { |db| db['k'] }
  end

  def test_open_with_a_block_closes_it_when_the_block_raises
    seen = nil
    assert_raises(RuntimeError) do
      LightningDB.open(@path) do |db|
        seen = db
        raise 'boom'
      end
    end
    assert seen.closed?
    LightningDB.open(@path) { |db| assert_equal 0, db.size } # the lock was released
  end

  def test_options_are_keywords_of_the_config
    db = open_db(cache_size: 1 << 20, sync_mode: :normal, page_size: 8192, auto_compact: false)
    assert_equal 1 << 20, db.config.cache_size
    assert_equal LightningDb::SyncMode::NORMAL, db.config.sync_mode
    assert_equal 8192, db.config.page_size
    assert_equal false, db.config.auto_compact
    assert_equal File.expand_path(@path), File.expand_path(db.path)
  end

  def test_bad_options
    e = assert_raises(LightningDB::InvalidArgument) { LightningDB.open(@path, page_size: 1000) }
    assert_match(/page size/, e.message)
    assert_raises(LightningDB::IoError) { LightningDB.open(File.join(@dir, 'missing'), create: false) }
    assert_raises(LightningDB::InvalidUtf8) { LightningDB.open("#{@dir}/\xff".b) }
  end

  def test_keys_and_values_are_binary_strings
    db = open_db
    db["\x00\xff".b] = "\x00\x01\xfe".b
    db['unicodé'] = 'välue'
    assert_equal "\x00\x01\xfe".b, db["\x00\xff".b]
    got = db['unicodé']
    assert_equal Encoding::BINARY, got.encoding
    assert_equal 'välue'.b, got
    assert_equal 'välue'.b, db['unicodé'.b] # the same bytes are the same key
    assert_nil db['absent']
    db['empty'] = ''
    assert_equal '', db['empty']
    assert db.key?('empty')
    refute db.key?('absent')
    assert db.include?('empty')
    assert_equal 3, db.size
    assert_equal 3, db.count
  end

  def test_fetch_is_hash_like
    db = open_db
    db['a'] = '1'
    assert_equal '1', db.fetch('a')
    assert_equal 'x', db.fetch('b', 'x')
    assert_equal 'b!', db.fetch('b') { |k| "#{k}!" }
    e = assert_raises(KeyError) { db.fetch('b') }
    assert_equal 'b', e.key
  end

  def test_delete_says_whether_the_key_was_there
    db = open_db
    db['a'] = '1'
    assert_equal true, db.delete('a')
    assert_equal false, db.delete('a')
    assert_nil db['a']
    assert db.empty?
  end

  def test_values_larger_than_the_read_buffer
    db = open_db
    big = Random.new(1).bytes(3 * LightningDB::Native::Scratch::INITIAL + 7)
    db['big'] = big
    db['small'] = 's'
    assert_equal big, db['big']
    assert_equal 's', db['small']
    assert_equal [['big', big], %w[small s]], db.each.to_a
  end

  # Calls the signatures (sig/lightning_db.rbs) forbid: ci/test-ruby's run under
  # rbs's runtime type checker leaves this one test out.
  def test_ill_typed_calls_raise_ruby_errors
    assert_raises(ArgumentError) { LightningDB.open(@path, cache: 1) }
    e = assert_raises(LightningDB::InvalidArgument) { LightningDB.open(@path, sync_mode: :sometimes) }
    assert_match(/sync_mode/, e.message)
    db = open_db
    assert_raises(TypeError) { db[1] }
    assert_raises(TypeError) { db['k'] = 1 }
    assert_raises(TypeError) { db[:k] = 'v' }
    assert_raises(TypeError) { db.key?(nil) }
    assert_raises(TypeError) { db.each.first('2') }
    assert_raises(TypeError) { db.each(from: 1).to_a }
  end

  def test_bad_keys_raise_invalid_argument
    db = open_db
    e = assert_raises(LightningDB::InvalidArgument) { db[''] = 'v' }
    assert_match(/empty/, e.message)
    assert_raises(LightningDB::InvalidArgument) { db[''] }
    e = assert_raises(LightningDB::InvalidArgument) { db['k' * 16_385] = 'v' }
    assert_match(/16385/, e.message)
    assert_raises(LightningDB::InvalidArgument) { db.key?('') }
    assert_raises(LightningDB::InvalidArgument) { db.delete('') }
  end

  def test_each_in_order_with_ranges_prefixes_and_reverse
    db = open_db
    %w[a b ba bb c d].each { |k| db[k] = k.upcase }
    assert_equal %w[a b ba bb c d], db.each.map(&:first)
    assert_equal %w[b ba bb c], db.each(from: 'b', to: 'd').map(&:first)
    assert_equal %w[ba bb c d], db.each(after: 'b').map(&:first)
    assert_equal %w[a b ba bb c], db.each(through: 'c').map(&:first)
    assert_equal %w[c bb ba b], db.each(from: 'b', through: 'c', reverse: true).map(&:first)
    assert_equal %w[b ba bb], db.each(prefix: 'b').map(&:first)
    assert_equal %w[bb ba b], db.each(prefix: 'b', reverse: true).map(&:first)
    assert_equal [], db.each(to: '').to_a
    assert_equal [], db.each(from: 'x').to_a
    pairs = []
    assert_same db, db.each(prefix: 'b') { |key, value| pairs << [key, value] }
    assert_equal [%w[b B], %w[ba BA], %w[bb BB]], pairs
    assert_equal %w[B BA BB], db.each_value(prefix: 'b').to_a
    assert_equal %w[a b], db.each_key(to: 'ba').to_a
    assert_raises(ArgumentError) { db.each(prefix: 'b', from: 'a').to_a }
    assert_raises(ArgumentError) { db.each(from: 'a', after: 'a').to_a }
  end

  def test_enumerable
    db = open_db
    (1..30).each { |i| db[format('k%02d', i)] = i.to_s }
    assert_kind_of Enumerator, db.each
    assert_equal({ 'k01' => '1', 'k02' => '2' }, db.first(2).to_h)
    assert_equal 30, db.to_a.size
    assert_equal %w[k10 k20 k30], db.select { |_, v| v.end_with?('0') }.map(&:first)
    assert_equal 3, db.count { |_, v| v.end_with?('0') }
    assert_equal %w[k29 k30], db.each(reverse: true).first(2).map(&:first).reverse
    assert_equal 'k15', db.find { |_, v| v == '15' }&.first
  end

  def test_first_and_take_read_a_range_in_one_call
    db = open_db
    keys = ['a', "a\xFF".b, "a\xFF\xFF".b, "a\xFF\x01".b, 'ab', 'b', 'ba', "\xFF".b, "\xFF\x01".b]
    keys.each { |k| db[k] = "v-#{k.unpack1('H*')}" }
    ranges = [{}, { from: 'a' }, { after: 'a' }, { to: 'b' }, { through: 'b' }, { from: 'ab', to: "\xFF".b },
              { prefix: 'a' }, { prefix: "a\xFF".b }, { prefix: "\xFF".b }, { prefix: '' }, { prefix: 'c' },
              { reverse: true }, { prefix: 'a', reverse: true }, { from: 'b', reverse: true }]
    ranges.each do |range|
      all = []
      db.each(**range) { |pair| all << pair }
      [0, 1, 2, 5, 100].each do |n|
        assert_equal all.first(n), db.each(**range).first(n), "first(#{n}) of #{range}"
        assert_equal all.first(n), db.each(**range).take(n), "take(#{n}) of #{range}"
      end
      if all.empty?
        assert_nil db.each(**range).first, "first of #{range}"
      else
        assert_equal all.first, db.each(**range).first, "first of #{range}"
      end
    end
    # One call, and no iterator made (and freed) for the pairs past those asked for.
    calls = RangeCalls.during { assert_equal 3, db.each(from: 'a').first(3).size }
    assert_equal({ range_first: 1 }, calls)
    calls = RangeCalls.during { assert_equal db.each.first(4), db.first(4) }
    assert_equal({ range_first: 2 }, calls)
    assert_equal ['a', 'v-61'], db.first
    assert_raises(ArgumentError) { db.each.first(-1) }
    assert_equal 2, db.each.first(2.9).size # converted as Enumerable#first does
    assert_raises(ArgumentError) { db.each(prefix: 'a', from: 'a').first(1) }
  end

  def test_first_reads_past_pairs_larger_than_its_buffer_and_frees_the_rest
    db = open_db
    big = 'B' * (200 * 1024) # larger than the buffer a range's first page goes into
    (1..20).each { |i| db[format('k%02d', i)] = i == 3 ? big : "v#{i}" }
    GC.start
    GC.disable
    before = Handles.live
    pairs = db.each(from: 'k02').first(3)
    assert_equal [['k02', 'v2'], ['k03', big], ['k04', 'v4']], pairs
    assert_equal before, Handles.live # the iterator over the rest is freed
    assert_equal (1..5).map { |i| format('k%02d', i) }, db.each.first(5).map(&:first)
    assert_equal before, Handles.live
  ensure
    GC.enable
  end

  def test_first_in_a_transaction_sees_its_own_writes
    db = open_db
    (1..5).each { |i| db["k#{i}"] = "v#{i}" }
    tx = db.transaction
    tx['k25'] = 'mine'
    tx.delete('k3')
    db['k4'] = 'later' # after the transaction's snapshot
    calls = RangeCalls.during do
      assert_equal [%w[k2 v2], %w[k25 mine], %w[k4 v4]], tx.each(from: 'k2').first(3)
    end
    assert_equal({ range_first_tx: 1 }, calls)
    assert_equal tx.each(from: 'k2').to_a.first(3), tx.each(from: 'k2').first(3)
    assert_equal %w[k5 v5], tx.each(reverse: true).first
    tx.rollback
    assert_raises(LightningDB::InvalidArgument) { tx.each.first(1) }
    db.close
    assert_raises(LightningDB::InvalidArgument) { db.each.first(1) }
  end

  def test_breaking_out_of_a_scan_releases_its_iterator
    db = open_db
    (1..5000).each_slice(1000) { |slice| db.write { |b| slice.each { |i| b[format('%05d', i)] = 'v' } } }
    # Other tests' objects release their handles in finalizers, after a GC:
    # none may run while this test counts.
    GC.start
    GC.disable
    before = Handles.live
    seen = 0
    db.each do |_key, _value|
      seen += 1
      break if seen == 3
    end
    assert_equal 3, seen
    assert_equal before, Handles.live
    assert_equal 3, db.each.first(3).size # Enumerator#first breaks too
    assert_equal before, Handles.live
    assert_raises(RuntimeError) { db.each { raise 'stop' } }
    assert_equal before, Handles.live
    c = db.cursor(from: '00100')
    assert_equal %w[00100 v], c.next
    assert_equal before + 1, Handles.live
    c.close
    c.close # idempotent
    assert_nil c.next
    assert_equal before, Handles.live
  ensure
    GC.enable
  end

  def test_the_block_of_a_scan_may_read_and_scan_the_database
    db = open_db
    big = 'B' * (200 * 1024) # larger than the read buffer: reading it reallocates it
    db['big'] = big
    (1..50).each { |i| db[format('k%02d', i)] = "v#{i}" }
    seen = []
    db.each(prefix: 'k') do |key, value|
      assert_equal big, db['big']
      assert_equal [%w[k01 v1]], db.each(prefix: 'k').first(1)
      seen << [key, value]
    end
    assert_equal (1..50).map { |i| [format('k%02d', i), "v#{i}"] }, seen
  end

  def test_a_cursor_resumes_where_reading_stopped
    db = open_db
    (1..40).each { |i| db[format('k%02d', i)] = i.to_s }
    c = db.cursor
    c.each { break } # read one pair of a first page of several
    assert_equal %w[k02 2], c.next
    assert_equal [%w[k03 3], %w[k04 4]], c.next_page(2)
    assert_equal %w[k05 k06 k07], c.each.first(3).map(&:first)
    assert_equal (8..40).map { |i| format('k%02d', i) }, c.map(&:first)
    assert_nil c.next
    assert_equal [], c.next_page
    c.close
    tx = db.transaction
    t = tx.cursor(prefix: 'k1')
    t.each { break }
    assert_equal %w[k11 11], t.next
    assert_equal 8, t.to_a.size
    t.close
    tx.rollback
  end

  def test_the_block_of_a_cursor_each_may_move_or_close_that_cursor
    db = open_db
    db.write { |b| (1..100).each { |i| b[format('k%03d', i)] = i.to_s } }
    names = ->(range) { range.map { |i| format('k%03d', i) } }
    c = db.cursor
    seen = []
    c.each do |key, _|
      seen << key
      # Past the end of the first page (16 pairs): the cursor fetches another.
      seen.concat(c.next_page(20).map { |k, _| "moved #{k}" }) if key == 'k010'
    end
    assert_equal names.(1..10) + names.(11..30).map { |k| "moved #{k}" } + names.(31..100), seen
    c.close
    c = db.cursor
    seen = []
    c.each do |key, _|
      seen << key
      c.close if key == 'k005'
    end
    assert_equal names.(1..5), seen
    assert_nil c.next
  end

  def test_a_scan_reads_a_snapshot
    db = open_db
    db['a'] = '1'
    c = db.cursor
    db['b'] = '2'
    assert_equal [%w[a 1]], c.to_a
    assert_equal [%w[a 1], %w[b 2]], db.to_a
  end

  def test_batches_are_atomic
    db = open_db
    db['gone'] = 'x'
    db.write do |b|
      b['a'] = '1'
      b.put('b', '2')
      b.delete('gone')
    end
    assert_equal [%w[a 1], %w[b 2]], db.to_a
    batch = LightningDB::Batch.new
    batch['c'] = '3'
    batch[''] = 'empty key'
    assert_equal 2, batch.size
    assert_raises(LightningDB::InvalidArgument) { db.write(batch) }
    assert_nil db['c'] # nothing of the failed batch was written
    assert_raises(RuntimeError) { db.write { |b| b['d'] = '4'; raise 'no' } }
    assert_nil db['d']
    assert_same db, db.write(LightningDB::Batch.new) # an empty batch is fine
  end

  def test_transaction_commits_at_the_end_of_the_block
    db = open_db
    db['a'] = '1'
    result = db.transaction do |tx|
      assert_equal '1', tx['a']
      tx['a'] = '2'
      tx['b'] = '3'
      tx.delete('zzz')
      assert_equal '2', tx['a'] # its own writes
      assert_equal '1', db['a'] # not yet committed
      assert tx.key?('b')
      assert_equal [%w[a 2], %w[b 3]], tx.each.to_a
      assert_equal [%w[b 3]], tx.each(after: 'a').to_a
      :value
    end
    assert_equal :value, result
    assert_equal [%w[a 2], %w[b 3]], db.to_a
  end

  def test_transaction_rolls_back_when_the_block_raises
    db = open_db
    db['a'] = '1'
    tx_seen = nil
    e = assert_raises(ArgumentError) do
      db.transaction do |tx|
        tx_seen = tx
        tx['a'] = '2'
        raise ArgumentError, 'changed my mind'
      end
    end
    assert_equal 'changed my mind', e.message
    assert tx_seen.finished?
    assert_equal '1', db['a']
    e = assert_raises(LightningDB::InvalidArgument) { tx_seen['a'] }
    assert_match(/finished/, e.message)
  end

  def test_transaction_the_block_finished_itself
    db = open_db
    db.transaction do |tx|
      tx['a'] = '1'
      tx.rollback
    end
    assert_nil db['a']
    tx = db.transaction
    tx['b'] = '2'
    tx.commit
    assert_equal '2', db['b']
  end

  def test_transaction_conflict
    db = open_db
    db['k'] = '0'
    e = assert_raises(LightningDB::TransactionConflict) do
      db.transaction do |tx|
        tx['k'] = "#{tx['k']}+tx"
        db['k'] = 'outside'
      end
    end
    assert_equal(-8, e.code)
    assert_equal 'outside', db['k']
  end

  def test_error_classes
    classes = [LightningDB::NullPointer, LightningDB::InvalidUtf8, LightningDB::IoError,
               LightningDB::CorruptedData, LightningDB::InvalidArgument, LightningDB::OutOfMemory,
               LightningDB::DatabaseLocked, LightningDB::TransactionConflict, LightningDB::UnknownError]
    assert_equal [-1, -2, -3, -4, -5, -6, -7, -8, -99], classes.map { |c| c.new('m').code }
    classes.each { |c| assert_operator c, :<, LightningDB::Error }
    assert_operator LightningDB::Error, :<, StandardError
    # Each of the generated module's exceptions becomes its class, message kept.
    LightningDB::ERRORS_BY_VARIANT.each do |variant, klass|
      generated = LightningDb::LightningDbError.const_get(variant)
      e = assert_raises(klass) { LightningDB.translate { raise generated.new(message: "m #{variant}") } }
      assert_equal "m #{variant}", e.message
      assert_instance_of generated, e.cause
    end
    e = assert_raises(LightningDB::UnknownError) { LightningDB.translate { raise LightningDb::InternalError, 'panic' } }
    assert_equal 'panic', e.message
    # And each C code of the direct path.
    classes.each { |c| assert_instance_of c, LightningDB::Native.error(c::CODE) }
    assert_instance_of LightningDB::UnknownError, LightningDB::Native.error(-42)
  end

  def test_rescue_lightning_db_error_catches_them_all
    db = open_db
    caught = []
    attempts = [
      -> { db[''] },                                                        # InvalidArgument
      -> { LightningDB.open(@path) },                                       # DatabaseLocked
      -> { LightningDB.open(File.join(@dir, 'nope'), create: false) },      # IoError
      -> { LightningDB.open("#{@dir}/\xfe".b) },                            # InvalidUtf8
      -> { db.transaction { |tx| tx['k'] = '1'; db['k'] = '2' } }           # TransactionConflict
    ]
    attempts.each do |attempt|
      attempt.call
    rescue LightningDB::Error => e
      caught << e.class
    end
    assert_equal [LightningDB::InvalidArgument, LightningDB::DatabaseLocked, LightningDB::IoError,
                  LightningDB::InvalidUtf8, LightningDB::TransactionConflict], caught
  end

  def test_corrupted_data
    LightningDB.open(@path) do |db|
      db['victim'] = 'Q' * 4000
      db['after'] = 'A' * 100
      db.checkpoint
    end
    file = Dir[File.join(@path, '**', '*')].select { |f| File.file?(f) }.find do |f|
      File.binread(f).include?('Q' * 4000)
    end
    refute_nil file
    bytes = File.binread(file)
    bytes[bytes.index('Q' * 4000) + 2000] = 'R'
    File.binwrite(file, bytes)
    e = assert_raises(LightningDB::CorruptedData) do
      LightningDB.open(@path) do |db|
        db['victim']
      end
    end
    assert_equal(-4, e.code)
    assert_kind_of LightningDB::Error, e
  end

  def test_use_after_close_is_an_error_not_a_crash
    db = open_db
    db['a'] = '1'
    cursor = db.cursor
    tx = db.transaction
    db.close
    assert db.closed?
    calls = {
      get: -> { db['a'] }, put: -> { db['a'] = '2' }, key?: -> { db.key?('a') },
      delete: -> { db.delete('a') }, size: -> { db.size }, each: -> { db.each.to_a },
      write: -> { db.write { |b| b['x'] = 'y' } }, transaction: -> { db.transaction {} },
      empty_range: -> { db.each(to: '').to_a },
      stats: -> { db.stats }, checkpoint: -> { db.checkpoint }, close: -> { db.close },
      cursor: -> { cursor.next }, tx_get: -> { tx['a'] }
    }
    calls.each do |name, call|
      e = assert_raises(LightningDB::InvalidArgument, name.to_s) { call.call }
      assert_match(/closed/, e.message, name.to_s)
    end
    cursor.close
  end

  def test_a_second_process_opens_read_only
    db = open_db
    db['shared'] = 'from the writer'
    lib = File.expand_path('../lib', __dir__)
    reader = <<~RUBY
      require 'lightning_db'
      LightningDB.open(ARGV[0], read_only: true) do |db|
        puts db['shared']
        begin
          db['x'] = 'y'
        rescue LightningDB::InvalidArgument => e
          puts e.message
        end
        begin
          LightningDB.open(ARGV[0])
        rescue LightningDB::DatabaseLocked
          puts 'locked'
        end
      end
    RUBY
    out = IO.popen([RbConfig.ruby, "-I#{lib}", '-e', reader, @path], err: [:child, :out], &:read)
    assert $?.success?, out
    lines = out.lines.map(&:chomp)
    assert_equal 'from the writer', lines[0]
    assert_match(/read-only/, lines[1])
    assert_equal 'locked', lines[2]
  end

  def test_threads_share_one_database
    db = open_db(sync_mode: :off)
    threads = 4.times.map do |t|
      Thread.new do
        500.times do |i|
          key = "t#{t}-#{i}"
          db[key] = key * 3
          raise "lost #{key}" unless db[key] == key * 3
        end
      end
    end
    threads.each(&:join)
    assert_equal 2000, db.size
    assert_equal 2000, db.each.count
  end

  def test_stats_verify_backup_compact
    db = open_db
    db.write { |b| 100.times { |i| b["k#{i}"] = 'v' * 100 } }
    assert_equal 100, db.stats.live_keys
    assert db.verify.is_clean
    db.checkpoint
    db.compact
    dest = File.join(@dir, 'copy')
    db.backup(dest)
    LightningDB.open(dest, create: false) { |copy| assert_equal 100, copy.size }
    e = assert_raises(LightningDB::InvalidArgument) { db.backup(dest) } # not empty now
    assert_kind_of LightningDB::Error, e
  end
end
