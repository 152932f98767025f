# frozen_string_literal: true

# Lightning DB from Ruby beside Ruby's embedded stores, in one run: ops/s for
# point gets, single puts (one durable commit each), batched puts (1,000 per
# commit), ranges of 10 and a full scan, over random 24-byte keys and 150-byte
# values. Peers, each when installed (ci/bench-ruby installs them from Debian):
# SQLite (ruby-sqlite3; WAL, synchronous=FULL so each commit is durable like
# Lightning DB's sync_mode :full), Kyoto Cabinet's B+ tree (ruby-kyotocabinet;
# durable transactions), Ruby's DBM over GDBM (ruby-dbm: reads and scans only,
# as it cannot make a write durable) and Ruby's PStore. Also the floor the gem's get
# is measured against: a bare ffi call, and the C ABI's get_into called straight
# from Ruby (ffi call + the engine's get, no Ruby String made), and the same get
# through the UniFFI-generated module, which the gem's hot path avoids.
#
#   ci/bench-ruby [keys]   (default 100000)
#
# A program that prints a table, not a test: CI does not run it.

require 'lightning_db'
require 'tmpdir'
require 'etc'

KEYS = Integer(ARGV[0] || 100_000)
VALUE_SIZE = 150
BATCH = 1_000
# Each row runs its operation this many times, or for this long, whichever is less.
OPS = { get: 200_000, put: 1_000, batch: 20, range: 50_000, scan: 5, floor: 1_000_000 }.freeze
TIME_CAP = 3.0
# Interleaved rounds of each read row and of the get-path comparison (best of each).
ROUNDS = 3

rng = Random.new(42)
KEY_LIST = Array.new(KEYS) { rng.bytes(24) }.freeze
VALUE_LIST = Array.new(KEYS) { rng.bytes(VALUE_SIZE) }.freeze
# Reads and range starts in another random order than the load.
PROBES = KEY_LIST.shuffle(random: Random.new(7)).freeze

def now(clock = Process::CLOCK_MONOTONIC)
  Process.clock_gettime(clock)
end

# Calls the block with 0, 1, 2... until `limit` calls or TIME_CAP seconds;
# returns operations per second. `per_call` counts what one call does (keys
# written, pairs read), so the rate is in those units. `clock`: elapsed time by
# default; the get paths are compared in this process's CPU time, which a busy
# shared machine disturbs far less (a get neither waits nor sleeps).
def rate(limit, per_call = 1, clock: Process::CLOCK_MONOTONIC)
  # Each measurement starts from a collected heap: a store whose calls leave
  # much garbage (PStore loads its whole table per transaction) must not make
  # the next store's measurement pay for collecting it.
  GC.start
  n = 0
  start = now(clock)
  deadline = now + TIME_CAP
  while n < limit
    yield n
    n += 1
    break if (n & 15).zero? && now > deadline
  end
  (n * per_call) / (now(clock) - start)
end

CPU = Process::CLOCK_PROCESS_CPUTIME_ID

module Floor
  extend FFI::Library
  ffi_lib LightningDB::Native::LIBRARY
  attach_function :last_error_code, :lightning_db_last_error_code, [], :int
end

class LightningEngine
  def name = 'Lightning DB'
  def durable? = true

  def initialize(dir)
    @db = LightningDB.open(File.join(dir, 'lightning'), sync_mode: :full)
  end

  attr_reader :db

  def load(pairs) = pairs.each_slice(BATCH) { |slice| batch(slice) }
  def get(key) = @db[key]
  def put(key, value) = (@db[key] = value)
  def batch(pairs) = @db.write { |b| pairs.each { |k, v| b[k] = v } }
  def range(key) = @db.each(from: key).first(10).size
  def scan = @db.each.count { true }
  def close = @db.close
end

class SqliteEngine
  def name = 'SQLite'
  def durable? = true

  def initialize(dir)
    @db = SQLite3::Database.new(File.join(dir, 'sqlite.db'))
    @db.execute('PRAGMA journal_mode=WAL')
    @db.execute('PRAGMA synchronous=FULL')
    @db.execute('CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID')
    @get = @db.prepare('SELECT v FROM kv WHERE k = ?')
    @put = @db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
    @range = @db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 10')
  end

  def load(pairs) = pairs.each_slice(BATCH) { |slice| batch(slice) }

  def get(key)
    @get.execute(SQLite3::Blob.new(key)).next&.first
  end

  def put(key, value) = @put.execute(SQLite3::Blob.new(key), SQLite3::Blob.new(value))

  def batch(pairs)
    @db.transaction { pairs.each { |k, v| @put.execute(SQLite3::Blob.new(k), SQLite3::Blob.new(v)) } }
  end

  def range(key) = @range.execute(SQLite3::Blob.new(key)).to_a.size

  def scan
    n = 0
    @db.execute('SELECT k, v FROM kv ORDER BY k') { n += 1 }
    n
  end

  def close
    [@get, @put, @range].each(&:close)
    @db.close
  end
end

class PStoreEngine
  def name = 'PStore'
  def durable? = true

  def initialize(dir)
    @store = PStore.new(File.join(dir, 'pstore'), true) # thread-safe
    @store.ultra_safe = true # fsync each commit
  end

  def load(pairs) = pairs.each_slice(BATCH) { |slice| batch(slice) }
  def get(key) = @store.transaction(true) { @store[key] }
  def put(key, value) = @store.transaction { @store[key] = value }
  def batch(pairs) = @store.transaction { pairs.each { |k, v| @store[k] = v } }

  # PStore has no order: a range is a sort of every key.
  def range(key)
    @store.transaction(true) do
      keys = @store.roots.sort
      keys[keys.bsearch_index { |k| k >= key } || keys.size, 10].each { |k| @store[k] }.size
    end
  end
  def scan = @store.transaction(true) { @store.roots.sort.each { |k| @store[k] }.size }
  def close; end
end

# Kyoto Cabinet's B+ tree database (Debian's ruby-kyotocabinet, a C extension):
# ordered, with transactions; `begin_transaction(true)` makes each commit durable
# (synchronized to the device), as Lightning DB's sync_mode :full does.
class KyotoEngine
  def name = 'Kyoto Cabinet'
  def durable? = true

  def initialize(dir)
    @db = KyotoCabinet::DB.new
    path = File.join(dir, 'kyoto.kct')
    @db.open(path, KyotoCabinet::DB::OWRITER | KyotoCabinet::DB::OCREATE) || raise("open #{path}: #{@db.error}")
  end

  def load(pairs) = pairs.each_slice(BATCH) { |slice| batch(slice) }
  def get(key) = @db.get(key)
  def put(key, value) = durably { @db.set(key, value) }
  def batch(pairs) = durably { pairs.each { |k, v| @db.set(k, v) } }

  def range(key)
    cursor = @db.cursor
    cursor.jump(key)
    n = 0
    n += 1 while n < 10 && cursor.get(true)
    cursor.disable
    n
  end

  def scan
    n = 0
    @db.each { n += 1 }
    n
  end

  def close = @db.close

  private

  def durably
    @db.begin_transaction(true) || raise("begin: #{@db.error}")
    yield
    @db.end_transaction(true) || raise("commit: #{@db.error}")
  end
end

# Ruby's DBM over GDBM (Debian's ruby-dbm): a hash file, unordered, with no
# transactions and no sync, so its writes are not durable and it has no range row.
class DbmEngine
  def name = 'DBM (GDBM)'

  def initialize(dir)
    @db = DBM.open(File.join(dir, 'dbm'), 0o644, DBM::NEWDB)
  end

  def durable? = false
  def load(pairs) = pairs.each { |k, v| @db[k] = v }
  def get(key) = @db[key]
  def range(_key) = nil
  def scan = @db.each_pair.count { true }
  def close = @db.close
end

engines = [LightningEngine]
notes = []
{ 'sqlite3' => SqliteEngine, 'kyotocabinet' => KyotoEngine, 'dbm' => DbmEngine, 'pstore' => PStoreEngine }.each do |lib, klass|
  require lib
  engines << klass
rescue LoadError
  notes << "#{klass.allocate.name}: not installed here (ci/bench-ruby installs it from Debian)"
end

rows = Hash.new { |h, k| h[k] = {} }
pairs = KEY_LIST.zip(VALUE_LIST)
extra = {}

Dir.mktmpdir('lightning-db-bench-', ENV.fetch('BENCH_DIR', Dir.tmpdir)) do |dir|
  open = engines.map do |klass|
    engine = klass.new(dir)
    warn "#{engine.name}: loading #{KEYS} keys"
    engine.load(pairs)
    engine
  end
  # Reads: interleaved rounds, each store in turn, best of each; on a shared
  # machine one round can catch another process's burst, and a store measured
  # alone would catch it alone.
  reads = {
    'get' => ->(e) { rate(OPS[:get]) { |i| e.get(PROBES[i % KEYS]) || raise("missing key in #{e.name}") } },
    'range of 10 (pairs/s)' => ->(e) { e.range(PROBES[0]) && rate(OPS[:range], 10) { |i| e.range(PROBES[i % KEYS]) } },
    'full scan (pairs/s)' => ->(e) { rate(OPS[:scan], KEYS) { e.scan == KEYS || raise("short scan in #{e.name}") } }
  }
  reads.each do |row, run|
    warn "measuring #{row}"
    ROUNDS.times do
      open.each do |e|
        r = run.call(e)
        rows[row][e.name] = r && [rows[row][e.name] || 0, r].max
      end
    end
  end
  # Writes: one round each (every round would add keys to the stores).
  open.select(&:durable?).each do |e|
    warn "measuring writes of #{e.name}"
    new_rng = Random.new(99)
    rows['single put, durable (puts/s)'][e.name] = rate(OPS[:put]) { e.put(new_rng.bytes(24), VALUE_LIST[0]) }
    rows["batched put, #{BATCH}/commit (puts/s)"][e.name] =
      rate(OPS[:batch], BATCH) { e.batch(Array.new(BATCH) { [new_rng.bytes(24), VALUE_LIST[1]] }) }
  end

  db = open.first.db
  token = db.instance_variable_get(:@db)
  s = LightningDB::Native.scratch
  inner = db.instance_variable_get(:@inner)
  paths = {
    'bare ffi call (lightning_db_last_error_code)' => -> { rate(OPS[:floor], clock: CPU) { Floor.last_error_code } },
    'C get_into from Ruby (ffi call + engine get)' => lambda do
      rate(OPS[:get], clock: CPU) do |i|
        LightningDB::Native.get_into(token, PROBES[i % KEYS], 24, s.buf, s.cap, s.out)
      end
    end,
    'C get_into + the value made a String (read_bytes)' => lambda do
      rate(OPS[:get], clock: CPU) do |i|
        LightningDB::Native.get_into(token, PROBES[i % KEYS], 24, s.buf, s.cap, s.out)
        s.buf.read_bytes(s.out.read_ulong)
      end
    end,
    'gem db[key]' => -> { rate(OPS[:get], clock: CPU) { |i| db[PROBES[i % KEYS]] } },
    'UniFFI-generated Database#get' => -> { rate(OPS[:get] / 10, clock: CPU) { |i| inner.get(PROBES[i % KEYS]) } }
  }
  warn 'measuring the get paths'
  ROUNDS.times { paths.each { |what, run| extra[what] = [extra[what] || 0, run.call].max } }
  open.each(&:close)
end

def fmt(rate)
  return 'n/a' if rate.nil? || rate == false

  rate >= 100 ? rate.round.to_s.reverse.scan(/\d{1,3}/).join(',').reverse : format('%.1f', rate)
end

peers = engines.map { |k| k.allocate.name }
puts "Lightning DB Ruby benchmark: #{KEYS} random 24-byte keys, #{VALUE_SIZE}-byte values; ops/s (higher is better)"
puts "#{RUBY_DESCRIPTION}; ffi #{FFI::VERSION}; #{Etc.nprocessors} cores; #{Time.now.utc.strftime('%Y-%m-%d %H:%M UTC')}"
puts
puts "| | #{peers.join(' | ')} | Lightning ÷ best peer |"
puts "|---|#{'---:|' * peers.size}---:|"
rows.each do |op, by_engine|
  ours = by_engine['Lightning DB']
  best = by_engine.reject { |k, v| k == 'Lightning DB' || !v }.values.max
  ratio = best ? format('%.2f', ours / best) : 'n/a'
  puts "| #{op} | #{peers.map { |p| fmt(by_engine[p]) }.join(' | ')} | #{ratio} |"
end
puts
puts '| get path (CPU time, best of 3 rounds) | ops/s | µs per get |'
puts '|---|---:|---:|'
extra.each { |what, r| puts "| #{what} | #{fmt(r)} | #{format('%.3f', 1e6 / r)} |" }
floor = 1e6 / extra['bare ffi call (lightning_db_last_error_code)']
engine_get = 1e6 / extra['C get_into from Ruby (ffi call + engine get)']
gem_get = 1e6 / extra['gem db[key]']
puts
with_string = 1e6 / extra['C get_into + the value made a String (read_bytes)']
puts format('gem get ÷ (C get_into from Ruby): %.2f (goal: within 1.5); ÷ (C get_into + value String): %.2f; ' \
            'bare ffi call %.3f µs', gem_get / engine_get, gem_get / with_string, floor)
notes.each { |note| puts note }
