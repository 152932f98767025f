# frozen_string_literal: true

# Every conformance scenario through both layers of the gem: one test method per
# scenario and layer, each in a fresh temporary directory.

require_relative 'test_helper'
require_relative 'conformance'

{ 'PublicLayerConformanceTest' => Conformance::PublicRunner,
  'GeneratedLayerConformanceTest' => Conformance::GeneratedRunner }.each do |class_name, runner|
  test_class = Class.new(Minitest::Test) do
    Conformance.load.each do |scenario|
      define_method("test_#{scenario['name']}") do
        Dir.mktmpdir('lightning-db-conformance-') do |root|
          failure = runner.new(root).run(scenario)
          assert(failure.nil?, -> { failure })
        end
      end
    end
  end
  Object.const_set(class_name, test_class)
end
