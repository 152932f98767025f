# frozen_string_literal: true

# The gem as a user gets it: built by build-gem, installed with `gem install
# --local` (no network) into an empty GEM_HOME, and used by the example script
# run from a directory outside the repository, with no LD_LIBRARY_PATH.

require 'minitest/autorun'
require 'rbconfig'
require 'tmpdir'

class GemTest < Minitest::Test
  HERE = File.expand_path('..', __dir__)
  EXAMPLE = File.expand_path('../../../examples/ruby/example.rb', __dir__)

  def run_ok(env, *cmd, **opts)
    out = IO.popen(env, cmd, err: %i[child out], **opts, &:read)
    assert $?.success?, "#{cmd.join(' ')} failed:\n#{out}"
    out
  end

  def test_build_install_and_run_the_example_outside_the_repository
    gem_file = run_ok({}, File.join(HERE, 'build-gem')).lines.last.chomp
    assert_match(/lightning_db-[\d.]+-#{Regexp.escape(Gem::Platform.local.to_s)}\.gem\z/, gem_file)

    Dir.mktmpdir('lightning-db-gem-') do |tmp|
      home = File.join(tmp, 'gems')
      work = File.join(tmp, 'work')
      Dir.mkdir(work)
      # No LD_LIBRARY_PATH, no RUBYLIB: only what `gem install` put in GEM_HOME
      # (the ffi dependency is Debian's ruby-ffi, found on the default gem path).
      env = { 'GEM_HOME' => home, 'LD_LIBRARY_PATH' => nil, 'RUBYLIB' => nil, 'RUBYOPT' => nil,
              'http_proxy' => 'http://127.0.0.1:9', 'https_proxy' => 'http://127.0.0.1:9' }
      run_ok(env, RbConfig.ruby, '-S', 'gem', 'install', '--local', '--no-document', gem_file, chdir: work)
      installed = Dir[File.join(home, 'gems', 'lightning_db-*', 'lib', 'lightning_db', 'liblightning_db_ffi.so')]
      assert_equal 1, installed.size, 'the native library is inside the installed gem'

      script = File.join(work, 'example.rb')
      File.write(script, File.read(EXAMPLE))
      out = run_ok(env, RbConfig.ruby, script, work, chdir: work)
      assert_includes out, 'hello -> world'
      assert_includes out, 'user:4 = ADA'
      assert_includes out, 'first two: user:1, user:2'
      assert_includes out, '5 keys'
      assert_includes out, 'refused: LightningDB::InvalidArgument (code -5)'

      # The library the example used was the installed gem's.
      probe = 'require "lightning_db"; puts File.readlines("/proc/self/maps")' \
              '.map { |l| l.split[5] }.grep(/liblightning_db_ffi/).uniq'
      assert_equal [File.realpath(installed.first)],
                   run_ok(env, RbConfig.ruby, '-e', probe, chdir: work).lines.map(&:chomp).map { File.realpath(_1) }
    end
  end
end
