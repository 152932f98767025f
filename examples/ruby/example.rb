# frozen_string_literal: true

# A tour of Lightning DB from Ruby: `gem install lightning_db`, then
#   ruby example.rb [directory]
require 'lightning_db'
require 'tmpdir'

dir = ARGV[0] || Dir.mktmpdir('lightning-db-example-')

LightningDB.open(File.join(dir, 'app.ldb'), sync_mode: :normal) do |db|
  db['hello'] = 'world'
  puts "hello -> #{db['hello']}"

  db.write do |batch| # one atomic commit
    batch['user:1'] = 'ada'
    batch['user:2'] = 'grace'
    batch['user:3'] = 'barbara'
  end

  db.transaction do |tx| # commits at the end of the block, rolls back if it raises
    tx['user:4'] = tx['user:1'].upcase
  end

  db.each(prefix: 'user:') { |key, value| puts "#{key} = #{value}" }
  puts "first two: #{db.each(prefix: 'user:').first(2).map(&:first).join(', ')}"
  puts "#{db.size} keys"

  begin
    db[''] = 'an empty key'
  rescue LightningDB::Error => e
    puts "refused: #{e.class} (code #{e.code}): #{e.message}"
  end
end
