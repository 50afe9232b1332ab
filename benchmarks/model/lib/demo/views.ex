defmodule Demo.Views do
  @moduledoc "The page."

  def render_index do
    {:ok, vsn} = :application.get_key(:demo, :vsn)
    "#{Application.fetch_env!(:demo, :greeting)} from demo #{vsn}!\n"
  end
end
