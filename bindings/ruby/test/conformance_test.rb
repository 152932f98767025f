# frozen_string_literal: true

# Runs tests/conformance/scenarios.json (format: tests/conformance/README.md)
# through the UniFFI-generated Ruby module alone (bindings/ruby/generated), against
# the shared cdylib target/release/liblightning_db_ffi.so: one minitest method per
# scenario. It mirrors bindings/python/tests/conformance.py step for step, so that
# a scenario means the same thing in every language.
#
# Run it with ci/test-ruby. The generated module loads its library with
# `ffi_lib 'lightning_db_ffi'`, which only the dynamic linker's search finds (the
# ffi gem adds nothing but /usr/lib and /usr/local/lib), so ci/test-ruby puts
# target/release on LD_LIBRARY_PATH: the linker's own, documented way to point a
# process at a library that is not installed, with no change to the generated file.
# Below, the test checks that the library it got is that one and not another copy.

require 'json'
require 'minitest/autorun'
require 'tmpdir'

ROOT = File.expand_path('../../..', __dir__)
SCENARIOS = ENV.fetch('LIGHTNING_DB_CONFORMANCE', File.join(ROOT, 'tests/conformance/scenarios.json'))
LIBRARY = File.join(ROOT, 'target/release/liblightning_db_ffi.so')

begin
  require_relative '../generated/lightning_db'
rescue LoadError => e
  raise LoadError, "#{e.message}\nThe generated module finds liblightning_db_ffi.so on the linker's path: " \
                   "run ci/test-ruby, or LD_LIBRARY_PATH=#{File.dirname(LIBRARY)} ruby #{__FILE__}"
end

# The file the dynamic linker mapped for the generated module must be the
# workspace's build, not a stale copy from elsewhere on the search path.
mapped = File.readlines('/proc/self/maps').map { |l| l.split[5] }.compact.uniq
                .select { |path| File.basename(path) == 'liblightning_db_ffi.so' }
unless mapped.map { |path| File.realpath(path) } == [File.realpath(LIBRARY)]
  raise "loaded #{mapped.inspect}, expected #{LIBRARY}"
end

module Conformance
  # UniFFI's Ruby error classes share no base class (each variant is a
  # StandardError of its own inside the LightningDbError module), so an error is
  # recognised by looking its class up here: UDL variant name by generated class.
  # const_get fails loudly should the generated module ever lack a variant.
  VARIANTS = %w[NullPointer InvalidUtf8 IoError CorruptedData InvalidArgument OutOfMemory
                DatabaseLocked TransactionConflict Unknown].to_h do |name|
    [LightningDb::LightningDbError.const_get(name, false), name]
  end.freeze

  SYNC_MODES = {
    'Full' => LightningDb::SyncMode::FULL,
    'Normal' => LightningDb::SyncMode::NORMAL,
    'Off' => LightningDb::SyncMode::OFF
  }.freeze

  module_function

  def load
    data = JSON.parse(File.read(SCENARIOS, encoding: 'UTF-8'))
    raise "unknown conformance format #{data['format'].inspect}" unless data['format'] == 1

    data.fetch('scenarios')
  end

  def to_bytes(spec)
    case spec
    when String then spec.b
    when Hash
      if spec.key?('hex') then [spec['hex']].pack('H*')
      elsif spec.key?('fill') then (spec['fill'].chr * spec['len']).b
      else raise ArgumentError, "not a bytes spec: #{spec.inspect}"
      end
    else raise ArgumentError, "not a bytes spec: #{spec.inspect}"
    end
  end

  def to_pair(spec)
    [to_bytes(spec[0]), to_bytes(spec[1])]
  end

  def to_bound(spec)
    return LightningDb::KeyBound::UNBOUNDED.new if spec.nil?
    raise ArgumentError, "a bound has one field: #{spec.inspect}" unless spec.size == 1

    kind, key = spec.first
    case kind
    when 'included' then LightningDb::KeyBound::INCLUDED.new(key: to_bytes(key))
    when 'excluded' then LightningDb::KeyBound::EXCLUDED.new(key: to_bytes(key))
    else raise ArgumentError, "not a bound: #{spec.inspect}"
    end
  end

  # A `config` object: the UDL's field names, which are the generated keywords;
  # an unknown field fails as an unknown keyword.
  def to_config(spec)
    return nil if spec.nil?

    fields = spec.transform_keys(&:to_sym)
    fields[:sync_mode] = SYNC_MODES.fetch(fields[:sync_mode]) if fields.key?(:sync_mode)
    LightningDb::Config.new(**fields)
  end

  def show(bytes)
    head = bytes[0, 40]
    more = bytes.bytesize > 40 ? "…(#{bytes.bytesize} bytes)" : ''
    (head.match?(/\A[\x20-\x7e]*\z/n) ? head.inspect : "hex:#{head.unpack1('H*')}") + more
  end

  def show_pairs(pairs)
    "[#{pairs.first(20).map { |k, v| "(#{show(k)}, #{show(v)})" }.join(', ')}]"
  end

  class StepFailed < StandardError; end

  # Runs one scenario in directory `root`, holding the handles its steps name.
  class Runner
    def initialize(root)
      @root = root
      @dbs = {}
      @opened_with = {}
      @txs = {}
      @cursors = {}
    end

    # nil when every step gave its expectation, else what went wrong and where.
    def run(scenario)
      scenario['steps'].each_with_index do |step, index|
        run_step(scenario, step)
      rescue StepFailed => e
        return "#{scenario['name'].inspect} step #{index} #{JSON.generate(step)[0, 300]}: #{e.message}"
      end
      nil
    ensure
      @dbs.each_value do |db|
        db.close
      rescue *VARIANTS.keys
        # Already closed by the scenario: expected here.
      end
    end

    private

    def run_step(scenario, step)
      want_error = step['expect_error']
      begin
        result = execute(scenario, step)
      rescue StepFailed
        raise
      rescue *VARIANTS.keys => e
        kind = VARIANTS.fetch(e.class)
        message = e.message
        raise StepFailed, "failed with #{kind}: #{message}" if want_error.nil?
        raise StepFailed, "failed with #{kind} (#{message}), expected #{want_error}" if kind != want_error

        contains = step.fetch('error_contains', '')
        raise StepFailed, "message #{message.inspect} lacks #{contains.inspect}" unless message.include?(contains)

        return
      rescue StandardError => e
        raise StepFailed, "raised a non-Lightning DB error #{e.class}: #{e.message}"
      end
      raise StepFailed, "succeeded (#{result.inspect[0, 200]}), expected #{want_error}" unless want_error.nil?

      check(step, result)
    end

    def check(step, result)
      op = step['op']
      if %w[stats verify].include?(op)
        step.fetch('expect', {}).each do |field, want|
          got = result.public_send(field)
          raise StepFailed, "#{field} is #{got.inspect}, expected #{want.inspect}" unless got == want && got.instance_of?(want.class)
        end
        return
      end
      return check_pairs(step, result) if result.is_a?(Array) # pairs of a scan or next
      return unless step.key?('expect')

      spec = step['expect']
      want = [nil, true, false].include?(spec) || spec.is_a?(Integer) ? spec : Conformance.to_bytes(spec)
      # Exact, like Python's: the same value and the same kind (nil is not "", 1 is not true).
      ok = result.instance_of?(want.class) && (want.is_a?(String) ? result.b == want : result == want)
      return if ok

      got = result.is_a?(String) ? Conformance.show(result) : result.inspect
      raise StepFailed, "got #{got}, expected #{want.is_a?(String) ? Conformance.show(want) : want.inspect}"
    end

    def check_pairs(step, pairs)
      if step.key?('expect')
        want = step['expect'].map { |p| Conformance.to_pair(p) }
        raise StepFailed, "got #{Conformance.show_pairs(pairs)}, expected #{Conformance.show_pairs(want)}" unless pairs == want
      end
      if step.key?('expect_count') && pairs.size != step['expect_count']
        raise StepFailed, "got #{pairs.size} pairs, expected #{step['expect_count']}"
      end
      if step.key?('expect_first') && pairs.first != Conformance.to_pair(step['expect_first'])
        raise StepFailed, "first pair #{Conformance.show_pairs(pairs.first(1))}, expected #{step['expect_first']}"
      end
      return unless step.key?('expect_last') && pairs.last != Conformance.to_pair(step['expect_last'])

      raise StepFailed, "last pair #{Conformance.show_pairs(pairs.last(1))}, expected #{step['expect_last']}"
    end

    # Up to `count` pairs, fewer only at the end; read in pages of at most 100.
    def next_pairs(cursor, count)
      out = []
      while out.size < count
        page = cursor.next_page([count - out.size, 100].min)
        break if page.empty?

        out.concat(page.map { |kv| [kv.key.b, kv.value.b] })
      end
      out
    end

    def drain(cursor)
      out = []
      loop do
        page = next_pairs(cursor, 1000)
        out.concat(page)
        return out if page.size < 1000
      end
    end

    def execute(scenario, step)
      op = step['op']
      name = step.fetch('db', 'main')
      config = step.key?('config') ? step['config'] : scenario['config']
      path = File.join(@root, step.fetch('path', 'db'))
      case op
      when 'create', 'open'
        @dbs[name] = LightningDb.public_send(op, path, Conformance.to_config(config))
        @opened_with[name] = [path, config]
        return nil
      when 'reopen'
        @dbs.fetch(name).close
        path, config = @opened_with.fetch(name)
        @dbs[name] = LightningDb.open(path, Conformance.to_config(config))
        return nil
      when /\Atx_/, 'commit', 'rollback'
        return execute_tx(op, @txs.fetch(step['tx']), step)
      when 'next'
        return next_pairs(@cursors.fetch(step['cursor']), step['count'])
      end
      db = @dbs.fetch(name)
      key = step.key?('key') ? Conformance.to_bytes(step['key']) : ''.b
      case op
      when 'close' then db.close
      when 'put' then db.put(key, Conformance.to_bytes(step['value']))
      when 'get' then db.get(key)
      when 'delete' then db.delete(key)
      when 'contains' then db.contains(key)
      when 'len' then db.len
      when 'write' then db.write(step['ops'].map { |o| batch_op(o) })
      when 'fill'
        db.write((0...step['count']).map do |i|
          LightningDb::BatchOp::PUT.new(key: format('%s%05d', step['key_prefix'], i).b,
                                        value: format('%s%05d', step['value_prefix'], i).b)
        end)
      when 'scan', 'scan_prefix' then scan(db, op, step)
      when 'begin'
        @txs[step['tx']] = db.begin_transaction
        nil
      when 'backup' then db.backup(File.join(@root, step['dest']))
      when 'checkpoint', 'compact', 'verify', 'stats' then db.public_send(op)
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def execute_tx(op, txn, step)
      key = step.key?('key') ? Conformance.to_bytes(step['key']) : ''.b
      case op
      when 'tx_get' then txn.get(key)
      when 'tx_put' then txn.put(key, Conformance.to_bytes(step['value']))
      when 'tx_delete' then txn.delete(key)
      when 'tx_contains' then txn.contains(key)
      when 'tx_scan', 'tx_scan_prefix' then scan(txn, op.delete_prefix('tx_'), step)
      when 'commit' then txn.commit
      when 'rollback' then txn.rollback
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def scan(src, op, step)
      reverse = step.fetch('reverse', false)
      cursor = if op == 'scan'
                 src.scan(Conformance.to_bound(step['start']), Conformance.to_bound(step['end']), reverse)
               else
                 src.scan_prefix(Conformance.to_bytes(step['prefix']), reverse)
               end
      if step.key?('cursor')
        @cursors[step['cursor']] = cursor
        return nil
      end
      drain(cursor)
    end

    def batch_op(spec)
      if spec.key?('put')
        key, value = Conformance.to_pair(spec['put'])
        LightningDb::BatchOp::PUT.new(key: key, value: value)
      else
        LightningDb::BatchOp::DELETE.new(key: Conformance.to_bytes(spec['delete']))
      end
    end
  end
end

# One test method per scenario, named after it, each in a fresh temporary directory.
class ConformanceTest < Minitest::Test
  Conformance.load.each do |scenario|
    define_method("test_#{scenario['name']}") do
      Dir.mktmpdir('lightning-db-conformance-') do |root|
        failure = Conformance::Runner.new(root).run(scenario)
        assert(failure.nil?, -> { failure })
      end
    end
  end
end
