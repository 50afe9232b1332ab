# Runtime configuration, run at every boot (like examples/demo/config/runtime.py).
import Config

config :demo, port: String.to_integer(System.get_env("PORT", "4000"))

if greeting = System.get_env("GREETING") do
  config :demo, greeting: greeting
end
