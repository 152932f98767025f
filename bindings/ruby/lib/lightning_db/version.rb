# frozen_string_literal: true

module LightningDB
  # The gem's version: the workspace's (Cargo.toml), whose library it carries.
  VERSION = '0.1.0'
end
