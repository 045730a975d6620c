// The extension's settings, read in one place. Each default is written once, in package.json's
// contributes.configuration (what the Settings editor shows); the code takes it from there, so a
// default cannot drift between the manifest and the code.
import * as vscode from 'vscode';
import manifest from '../package.json';

type Properties = typeof manifest.contributes.configuration.properties;
type Strip<T> = T extends `smallthinker.${infer K}` ? K : never;
/** A setting's name below `smallthinker.`, e.g. `chat.temperature`. */
export type SettingKey = Strip<keyof Properties>;
export type SettingValue<K extends SettingKey> = Properties[`smallthinker.${K}`]['default'];

const properties: Properties = manifest.contributes.configuration.properties;

/** The manifest's default of a setting. */
export function settingDefault<K extends SettingKey>(key: K): SettingValue<K> {
  return properties[`smallthinker.${key}`].default as SettingValue<K>;
}

/** The setting's value (user, workspace or folder), else the manifest's default. */
export function setting<K extends SettingKey>(key: K): SettingValue<K> {
  return vscode.workspace.getConfiguration('smallthinker').get<SettingValue<K>>(key, settingDefault(key));
}

export async function updateSetting<K extends SettingKey>(key: K, value: SettingValue<K>): Promise<void> {
  await vscode.workspace.getConfiguration('smallthinker').update(key, value, vscode.ConfigurationTarget.Global);
}
