# frozen_string_literal: true

# Plays tests/conformance/scenarios.json (format: tests/conformance/README.md)
# through either layer of the gem: the public one (LightningDB, whose hot calls
# take the C ABI) and the UniFFI-generated module alone (LightningDb). It mirrors
# bindings/python/tests/conformance.py step for step, so that a scenario means
# the same thing in every language; conformance_test.rb makes one minitest method
# per scenario and layer.

require 'json'

module Conformance
  ROOT = File.expand_path('../../..', __dir__)
  SCENARIOS = ENV.fetch('LIGHTNING_DB_CONFORMANCE', File.join(ROOT, 'tests/conformance/scenarios.json'))

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
  # A layer (subclass) says how each operation is called and how its errors are
  # recognised.
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
      @dbs.each_value { |db| close_quietly(db) }
    end

    private

    def run_step(scenario, step)
      want_error = step['expect_error']
      begin
        result = execute(scenario, step)
      rescue StepFailed
        raise
      rescue StandardError => e
        kind = variant(e)
        raise StepFailed, "raised a non-Lightning DB error #{e.class}: #{e.message}" if kind.nil?

        message = e.message
        raise StepFailed, "failed with #{kind}: #{message}" if want_error.nil?
        raise StepFailed, "failed with #{kind} (#{message}), expected #{want_error}" if kind != want_error

        contains = step.fetch('error_contains', '')
        raise StepFailed, "message #{message.inspect} lacks #{contains.inspect}" unless message.include?(contains)

        return
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
      if (bad = pairs.find { |k, v| k.encoding != Encoding::BINARY || v.encoding != Encoding::BINARY })
        raise StepFailed, "a pair is not binary: #{bad.map(&:encoding).inspect}"
      end
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
        page = next_page(cursor, [count - out.size, 100].min)
        break if page.empty?

        out.concat(page)
      end
      out
    end

    def execute(scenario, step)
      op = step['op']
      name = step.fetch('db', 'main')
      config = step.key?('config') ? step['config'] : scenario['config']
      path = File.join(@root, step.fetch('path', 'db'))
      case op
      when 'create', 'open'
        @dbs[name] = open_db(op == 'create', path, config)
        @opened_with[name] = [path, config]
        return nil
      when 'reopen'
        @dbs.fetch(name).close
        path, config = @opened_with.fetch(name)
        @dbs[name] = open_db(false, path, config)
        return nil
      when /\Atx_/, 'commit', 'rollback'
        return execute_tx(op, @txs.fetch(step['tx']), step)
      when 'next'
        return next_pairs(@cursors.fetch(step['cursor']), step['count'])
      end
      db = @dbs.fetch(name)
      key = step.key?('key') ? Conformance.to_bytes(step['key']) : ''.b
      case op
      when 'write' then write(db, step['ops'].map { |o| batch_op(o) })
      when 'fill'
        write(db, (0...step['count']).map do
          [:put, format('%s%05d', step['key_prefix'], _1).b, format('%s%05d', step['value_prefix'], _1).b]
        end)
      when 'scan', 'scan_prefix' then scan(db, op, step)
      when 'begin'
        @txs[step['tx']] = begin_tx(db)
        nil
      when 'backup' then db.backup(File.join(@root, step['dest']))
      else db_op(db, op, key, step)
      end
    end

    def execute_tx(op, txn, step)
      key = step.key?('key') ? Conformance.to_bytes(step['key']) : ''.b
      case op
      when 'tx_scan', 'tx_scan_prefix' then scan(txn, op.delete_prefix('tx_'), step)
      else tx_op(txn, op, key, step)
      end
    end

    def scan(src, op, step)
      cursor = open_cursor(src, op, step)
      if step.key?('cursor')
        @cursors[step['cursor']] = cursor
        return nil
      end
      drain(cursor)
    end

    def batch_op(spec)
      return [:put, *Conformance.to_pair(spec['put'])] if spec.key?('put')

      [:delete, Conformance.to_bytes(spec['delete'])]
    end
  end

  # The public layer: LightningDB (blocks, Enumerable, typed errors; the C ABI
  # for get, put, contains, batches and scans).
  class PublicRunner < Runner
    private

    def variant(error)
      error.is_a?(LightningDB::Error) ? LightningDB::ERRORS_BY_VARIANT.key(error.class) : nil
    end

    def close_quietly(db)
      db.close unless db.closed?
    end

    def open_db(create, path, config)
      options = (config || {}).to_h { |k, v| [k.to_sym, k == 'sync_mode' ? v.downcase.to_sym : v] }
      LightningDB.open(path, create: create, **options)
    end

    def begin_tx(db)
      db.transaction
    end

    def write(db, ops)
      db.write do |batch|
        ops.each { |kind, key, value| kind == :put ? batch[key] = value : batch.delete(key) }
      end
    end

    def db_op(db, op, key, step)
      case op
      when 'close' then db.close
      when 'put' then db[key] = Conformance.to_bytes(step['value'])
      when 'get' then db[key]
      when 'delete' then db.delete(key)
      when 'contains' then db.key?(key)
      when 'len' then db.size
      when 'checkpoint', 'compact', 'verify', 'stats' then db.public_send(op)
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def tx_op(txn, op, key, step)
      case op
      when 'tx_get' then txn[key]
      when 'tx_put' then txn[key] = Conformance.to_bytes(step['value'])
      when 'tx_delete' then txn.delete(key)
      when 'tx_contains' then txn.key?(key)
      when 'commit' then txn.commit
      when 'rollback' then txn.rollback
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def range(op, step)
      return { prefix: Conformance.to_bytes(step['prefix']), reverse: step.fetch('reverse', false) } if op == 'scan_prefix'

      range = { reverse: step.fetch('reverse', false) }
      { 'start' => %i[from after], 'end' => %i[through to] }.each do |field, (included, excluded)|
        bound = step[field]
        next if bound.nil?

        kind, key = bound.first
        range[kind == 'included' ? included : excluded] = Conformance.to_bytes(key)
      end
      range
    end

    # A named cursor is read step by step; otherwise the whole scan goes through
    # #each (which releases its iterator at the end).
    def open_cursor(src, op, step)
      return src.cursor(**range(op, step)) if step.key?('cursor')

      [:each, src, range(op, step)]
    end

    def drain(cursor)
      _, src, range = cursor
      src.each(**range).to_a
    end

    def next_page(cursor, max)
      cursor.next_page(max)
    end
  end

  # The UniFFI-generated module alone (LightningDb), as a program using it
  # directly would.
  class GeneratedRunner < Runner
    # UniFFI's Ruby error classes share no base class (each variant is a
    # StandardError of its own inside the LightningDbError module): an error is
    # recognised by looking its class up here.
    VARIANTS = %w[NullPointer InvalidUtf8 IoError CorruptedData InvalidArgument OutOfMemory
                  DatabaseLocked TransactionConflict Unknown].to_h do |name|
      [LightningDb::LightningDbError.const_get(name, false), name]
    end.freeze

    SYNC_MODES = {
      'Full' => LightningDb::SyncMode::FULL,
      'Normal' => LightningDb::SyncMode::NORMAL,
      'Off' => LightningDb::SyncMode::OFF
    }.freeze

    private

    def variant(error)
      VARIANTS[error.class]
    end

    def close_quietly(db)
      db.close
    rescue *VARIANTS.keys
      # Already closed by the scenario: expected here.
    end

    # A `config` object: the UDL's field names, which are the generated keywords;
    # an unknown field fails as an unknown keyword.
    def open_db(create, path, config)
      unless config.nil?
        fields = config.transform_keys(&:to_sym)
        fields[:sync_mode] = SYNC_MODES.fetch(fields[:sync_mode]) if fields.key?(:sync_mode)
        config = LightningDb::Config.new(**fields)
      end
      LightningDb.public_send(create ? :create : :open, path, config)
    end

    def begin_tx(db)
      db.begin_transaction
    end

    def write(db, ops)
      db.write(ops.map do |kind, key, value|
        kind == :put ? LightningDb::BatchOp::PUT.new(key: key, value: value) : LightningDb::BatchOp::DELETE.new(key: key)
      end)
    end

    def db_op(db, op, key, step)
      case op
      when 'close' then db.close
      when 'put' then db.put(key, Conformance.to_bytes(step['value']))
      when 'get' then db.get(key)
      when 'delete' then db.delete(key)
      when 'contains' then db.contains(key)
      when 'len' then db.len
      when 'checkpoint', 'compact', 'verify', 'stats' then db.public_send(op)
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def tx_op(txn, op, key, step)
      case op
      when 'tx_get' then txn.get(key)
      when 'tx_put' then txn.put(key, Conformance.to_bytes(step['value']))
      when 'tx_delete' then txn.delete(key)
      when 'tx_contains' then txn.contains(key)
      when 'commit' then txn.commit
      when 'rollback' then txn.rollback
      else raise ArgumentError, "unknown operation #{op.inspect}"
      end
    end

    def bound(spec)
      return LightningDb::KeyBound::UNBOUNDED.new if spec.nil?
      raise ArgumentError, "a bound has one field: #{spec.inspect}" unless spec.size == 1

      kind, key = spec.first
      case kind
      when 'included' then LightningDb::KeyBound::INCLUDED.new(key: Conformance.to_bytes(key))
      when 'excluded' then LightningDb::KeyBound::EXCLUDED.new(key: Conformance.to_bytes(key))
      else raise ArgumentError, "not a bound: #{spec.inspect}"
      end
    end

    def open_cursor(src, op, step)
      reverse = step.fetch('reverse', false)
      return src.scan(bound(step['start']), bound(step['end']), reverse) if op == 'scan'

      src.scan_prefix(Conformance.to_bytes(step['prefix']), reverse)
    end

    def drain(cursor)
      out = []
      loop do
        page = next_pairs(cursor, 1000)
        out.concat(page)
        return out if page.size < 1000
      end
    end

    def next_page(cursor, max)
      cursor.next_page(max).map { |kv| [kv.key.b, kv.value.b] }
    end
  end
end
