# frozen_string_literal: true

# Loads the gem from this checkout (bindings/ruby/lib, where bindings/ruby/build-gem
# has put the native library) and minitest.

$LOAD_PATH.unshift(File.expand_path('../lib', __dir__))
require 'lightning_db'
require 'minitest/autorun'
require 'tmpdir'
