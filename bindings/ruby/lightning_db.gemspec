# frozen_string_literal: true

# The Ruby gem of Lightning DB. It carries the native library
# (lib/lightning_db/liblightning_db_ffi.so, the stripped build of ci/build-native)
# and loads it from its own directory. Build it with bindings/ruby/build-gem,
# which puts the library in place first.

require_relative 'lib/lightning_db/version'

Gem::Specification.new do |spec|
  spec.name = 'lightning_db'
  spec.version = LightningDB::VERSION
  spec.summary = 'Embedded, crash-safe, transactional key-value store (Ruby binding)'
  spec.description = 'Lightning DB for Ruby: blocks, Enumerable, typed errors, and a direct ' \
                     'ffi path to the native library for the hot calls.'
  spec.authors = ['Lightning DB developers']
  # The workspace's "MIT OR Apache-2.0": rubygems takes one identifier per licence.
  spec.licenses = ['MIT', 'Apache-2.0']
  spec.required_ruby_version = '>= 3.1'

  library = "lib/lightning_db/liblightning_db_ffi" \
            "#{RbConfig::CONFIG['host_os'].match?(/darwin/) ? '.dylib' : '.so'}"
  unless File.exist?(File.join(__dir__, library))
    raise "#{library} is missing: build the gem with bindings/ruby/build-gem, which puts it there"
  end

  # A native library inside: the gem is for this platform only.
  spec.platform = Gem::Platform.local
  spec.files = Dir.chdir(__dir__) { Dir['lib/**/*.rb'] + [library, 'sig/lightning_db.rbs'] }.sort
  spec.require_paths = ['lib']
  spec.add_runtime_dependency 'ffi', '~> 1.15'
end
