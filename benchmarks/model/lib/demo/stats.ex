defmodule Demo.Stats do
  @moduledoc "Requests served by this node (read them with `bin/demo rpc \"IO.puts Demo.Stats.connected()\"`)."
  use Agent

  # The benchmark's "one file edited" rebuild changes this line.
  @edit 0

  def start_link(_), do: Agent.start_link(fn -> 0 end, name: __MODULE__)
  def record_request, do: Agent.update(__MODULE__, &(&1 + 1))
  def connected, do: Agent.get(__MODULE__, & &1)
  def edit, do: @edit
end
